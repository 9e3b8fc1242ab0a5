// open(p, 'a') with O_DIRECT (lib/api/append.ts): writes of any length append
// exactly those bytes, the true length is kept when the last block is padded,
// positional writes are refused before the kernel sees them, aborts and bad
// input leave the file as it was, close() waits for appends. Real files,
// every backend.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import { allocAligned, open } from '../lib/index'
import { forEachBackend, randomFile, rng, sameBytes, scratch } from './helpers/backends'

const SIZES = [0, 1, 511, 4095, 4097, 10_000]

forEachBackend(t, "append: open(p, 'a') appends exactly the bytes written, any length", async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  for (const initial of SIZES) {
    const { path: p, data } = randomFile(dir, `a${initial}`, initial)
    const fh = await open(p, 'a', { context: ctx })
    t.equal(fh.direct, true, 'opened with O_DIRECT')
    let want = Buffer.from(data)
    for (const n of [1, 511, 4095, 4096, 4097, 10_000, 0, 3]) {
      const chunk = Buffer.alloc(n)
      r.fill(chunk)
      const { bytesWritten } = await fh.write(chunk)
      t.equal(bytesWritten, n, `write(${n}) after ${want.length} bytes`)
      want = Buffer.concat([want, chunk])
      t.equal(fs.statSync(p).size, want.length, `size is the true length ${want.length}`)
    }
    // Many appends queued at once run in call order.
    const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(100 + i, i + 1))
    await Promise.all(parts.map((b) => fh.write(b)))
    want = Buffer.concat([want, ...parts])
    const aligned = allocAligned(8192)
    r.fill(aligned)
    await fh.write(aligned)
    await fh.writev([Buffer.from('hello '), Buffer.from('world')])
    want = Buffer.concat([want, aligned, Buffer.from('hello world')])
    await fh.close()
    sameBytes(t, fs.readFileSync(p), want, `initial ${initial}: the file is the old bytes then every append, in order`)
  }
})

forEachBackend(t, "append: 'a+' reads, 'ax' creates, O_SYNC flavour, a new handle continues at the end", async (t, ctx) => {
  const dir = scratch(t)
  const p = path.join(dir, 'log')
  const ax = await open(p, 'ax', { context: ctx })
  await ax.write(Buffer.from('line 1\n'))
  await ax.close()
  await t.rejects(open(p, 'ax', { context: ctx }), { code: 'EEXIST' }, "'ax' on an existing file: EEXIST")
  const as = await open(p, 'as', { context: ctx })
  await as.write(Buffer.from('line 2\n'))
  await as.close()
  const ap = await open(p, 'a+', { context: ctx })
  await ap.write(Buffer.from('line 3\n'))
  t.equal((await ap.readAt(0, 100)).toString(), 'line 1\nline 2\nline 3\n', "'a+' reads back what was appended")
  await ap.close()
  t.equal(fs.readFileSync(p, 'utf8'), 'line 1\nline 2\nline 3\n', 'three handles, one after another, append in order')
})

forEachBackend(t, 'append: positional writes refused, aborts and failures leave the file as it was', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'x', 10_000)
  const fh = await open(p, 'a', { context: ctx })
  t.teardown(() => fh.close())
  const b = allocAligned(4096)
  await t.rejects(fh.write(b, 0, 4096, 0), { code: 'EINVAL', syscall: 'write', message: /opened for appending/ }, 'positional write: EINVAL with advice')
  await t.rejects(fh.write(b, { position: 4096 }), { code: 'EINVAL', syscall: 'write' }, 'positional write (options form)')
  await t.rejects(fh.writev([b], 0), { code: 'EINVAL', syscall: 'write' }, 'positional writev')
  await t.rejects(fh.write('nope' as unknown as Buffer), { code: 'ERR_INVALID_ARG_TYPE' }, 'bad buffer')
  const ac = new AbortController()
  ac.abort()
  await t.rejects(fh.write(Buffer.from('abc'), { signal: ac.signal }), { name: 'AbortError', stage: 'queued' }, 'pre-aborted append')
  // An abort while the append is under way, at several moments: whatever
  // stage it reached, the file is either as it was or has the whole append.
  let want = Buffer.from(data)
  for (const delay of [-1, 0, 1, 3, 10]) {
    const ac2 = new AbortController()
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, delay + 2)
    const pending = fh.write(big, { signal: ac2.signal })
    if (delay < 0) ac2.abort()
    else setTimeout(() => ac2.abort(), delay)
    const res = await pending.then(
      () => 'done',
      (e: { name?: string; stage?: string }) => `${e.name} ${e.stage}`,
    )
    t.comment(`abort ${delay < 0 ? 'at once' : `after ${delay} ms`} during a 3 MiB append: ${res}`)
    if (res === 'done') want = Buffer.concat([want, big])
    sameBytes(t, fs.readFileSync(p), want, res === 'done' ? 'it completed: old bytes then the append' : 'it was aborted: the file is as it was')
  }
  await fh.write(Buffer.from('tail'))
  want = Buffer.concat([want, Buffer.from('tail')])
  sameBytes(t, fs.readFileSync(p), want, 'the next append goes right after')
  // close() waits for an append in progress.
  const last = fh.write(Buffer.from('!'))
  await fh.close()
  await last
  t.equal(fs.readFileSync(p).subarray(-5).toString(), 'tail!', 'an append started before close() completes')
  await t.rejects(fh.write(Buffer.from('late')), { code: 'EBADF' }, 'after close: EBADF')
})

t.test('append: refused at open where it cannot be sound', async (t) => {
  const dir = scratch(t)
  const p = path.join(dir, 'wo')
  fs.writeFileSync(p, 'x')
  fs.chmodSync(p, 0o200)
  if (process.getuid?.() === 0) {
    t.comment('root reads a write-only file anyway: the EACCES case cannot be shown here')
  } else {
    await t.rejects(open(p, 'a'), { code: 'EACCES', message: /direct: false/ }, 'a write-only file: refused with advice')
  }
  const fifo = path.join(dir, 'fifo')
  const mk = spawnSync('mkfifo', [fifo])
  if (mk.status !== 0) return t.skip('mkfifo unavailable')
  await t.rejects(open(fifo, 'a'), { code: 'EINVAL', syscall: 'open', message: /regular files/ }, 'a FIFO: refused at open with advice')
  const buffered = await open(p, 'a', { direct: false }).catch((e: Error) => e)
  if (!(buffered instanceof Error)) {
    await t.rejects(buffered.write(Buffer.from('x'), { position: 0 }), { code: 'EINVAL', message: /opened for appending/ }, 'a buffered append handle refuses positional writes too')
    await buffered.close()
  }
})
