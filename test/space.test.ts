// allocate/punchHole/lock/unlock (lib/api/space.ts, src/space.cc) on real
// files over every backend: sizes and block counts after fallocate, holes
// that read back as zeros through O_DIRECT, flock conflicts between handles
// and with another process, a lock wait that leaves the event loop running,
// and typed errors. Skipped with the reason where the filesystem refuses.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import { allocate, lock, open, punchHole, readAt, readFile, unlock } from '../lib/index'
import { forEachBackend, randomFile, sameBytes, scratch } from './helpers/backends'

const MiB = 1024 * 1024

/** Why fallocate cannot be tested in `dir`, or '' (found by trying both modes on a scratch file). */
async function fallocateRefusal(dir: string): Promise<string> {
  const p = path.join(dir, 'probe-falloc')
  const fh = await open(p, 'w+')
  try {
    await allocate(fh, 0, 4096)
    await punchHole(fh, 0, 4096)
    return ''
  } catch (e) {
    const err = e as { code?: string }
    if (err.code === 'EOPNOTSUPP') return `the filesystem of ${dir} refuses fallocate modes (EOPNOTSUPP)`
    throw e
  } finally {
    await fh.close()
    fs.rmSync(p, { force: true })
  }
}

forEachBackend(t, 'allocate and punchHole', async (t, ctx) => {
  const dir = scratch(t)
  const why = await fallocateRefusal(dir)
  if (why) return t.skip(why)
  const p = path.join(dir, 'a')
  const fh = await open(p, 'w+', { context: ctx })
  t.teardown(() => fh.close())
  await allocate(fh, 0, 4 * MiB)
  let st = fs.statSync(p)
  t.equal(st.size, 4 * MiB, 'allocate grows the file to cover the range')
  t.ok(st.blocks * 512 >= 4 * MiB, `blocks allocated (${st.blocks * 512} bytes)`)
  await allocate(fh, 4 * MiB, 4 * MiB, { keepSize: true })
  st = fs.statSync(p)
  t.equal(st.size, 4 * MiB, 'keepSize: size unchanged')
  t.ok(st.blocks * 512 >= 8 * MiB, `keepSize: blocks reserved beyond the end (${st.blocks * 512} bytes)`)
  t.same([...(await readAt(fh, 0, 10))], new Array(10).fill(0), 'preallocated range reads as zeros')

  const { path: q, data } = randomFile(dir, 'holes', 1 * MiB + 4097)
  const h = await open(q, 'r+', { context: ctx })
  t.teardown(() => h.close())
  const before = fs.statSync(q).blocks
  await punchHole(h, 64 * 1024, 256 * 1024)
  await punchHole(h, 1000, 3000) // unaligned: partial blocks are zeroed
  const want = Buffer.from(data)
  want.fill(0, 64 * 1024, 320 * 1024)
  want.fill(0, 1000, 4000)
  sameBytes(t, await readFile(h), want, 'holes read back as zeros through O_DIRECT, the rest intact')
  t.equal(fs.statSync(q).size, data.length, 'size unchanged')
  t.ok(fs.statSync(q).blocks < before, `blocks freed (${before} -> ${fs.statSync(q).blocks} sectors)`)

  const pre = AbortSignal.abort()
  await t.rejects(allocate(fh, 0, 4096, { signal: pre }), { name: 'AbortError', stage: 'queued' })
  await t.rejects(punchHole(fh, 0, 4096, { signal: pre }), { name: 'AbortError', stage: 'queued' })
  t.equal(fs.statSync(p).size, 4 * MiB, 'pre-aborted calls changed nothing')
})

forEachBackend(t, 'space: bad input and closed or read-only handles', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'b', 10_000)
  const fh = await open(p, 'r+', { context: ctx })
  for (const [off, len, code] of [[-1, 1, 'ERR_OUT_OF_RANGE'], [0, 0, 'ERR_OUT_OF_RANGE'], [0.5, 1, 'ERR_OUT_OF_RANGE'], ['0', 1, 'ERR_INVALID_ARG_TYPE'], [2 ** 53 - 2, 10, 'ERR_OUT_OF_RANGE']] as const) {
    await t.rejects(allocate(fh, off as number, len as number), { code }, `allocate(${off}, ${len})`)
    await t.rejects(punchHole(fh, off as number, len as number), { code }, `punchHole(${off}, ${len})`)
  }
  await t.rejects(allocate(fh, 0, 1, { keepSize: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(allocate({} as never, 0, 1), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(lock(fh, { wait: 'no' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(lock(null as never), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(lock(fh, { signal: AbortSignal.abort() }), { name: 'AbortError', stage: 'queued' })
  sameBytes(t, fs.readFileSync(p), data, 'nothing changed')
  const ro = await open(p, 'r', { context: ctx })
  await t.rejects(allocate(ro, 0, 20_000), { code: 'EBADF', syscall: 'fallocate' }, 'read-only handle: EBADF from fallocate')
  await ro.close()
  await fh.close()
  await t.rejects(allocate(fh, 0, 1), { code: 'EBADF', syscall: 'fallocate' }, 'closed handle')
  await t.rejects(punchHole(fh, 0, 1), { code: 'EBADF', syscall: 'fallocate' })
  await t.rejects(lock(fh), { code: 'EBADF', syscall: 'flock' })
  await t.rejects(unlock(fh), { code: 'EBADF', syscall: 'flock' })
  t.equal(fs.statSync(p).size, 10_000, 'size unchanged')
})

forEachBackend(t, 'lock/unlock between handles, with another process, and a wait that does not block the loop', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'l', 4096)
  const a = await open(p, 'r+', { context: ctx })
  const b = await open(p, 'r', { context: ctx })
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  t.equal(await lock(a), true, 'exclusive lock on a')
  t.equal(await lock(b, { wait: false }), false, 'b cannot take it exclusively (no wait: false)')
  t.equal(await lock(b, { exclusive: false }), false, 'nor shared')
  const tool = spawnSync('flock', ['-n', p, '-c', 'true'])
  if (tool.error) t.comment(`flock(1) unavailable: ${tool.error.message}`)
  else t.equal(tool.status, 1, 'another process (flock -n) sees the lock')
  await unlock(a)
  t.equal(await lock(b, { exclusive: false }), true, 'after unlock: b shared')
  t.equal(await lock(a, { exclusive: false }), true, 'a shared too')
  t.equal(await lock(a, { exclusive: true }), false, 'a cannot upgrade while b shares')
  await unlock(b)
  await unlock(a)
  if (!tool.error) t.equal(spawnSync('flock', ['-n', p, '-c', 'true']).status, 0, 'released: another process can lock')

  await lock(a)
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  const waiting = lock(b, { wait: true })
  let granted = false
  void waiting.then(() => (granted = true))
  await new Promise((r) => setTimeout(r, 150))
  t.equal(granted, false, 'b waits while a holds the lock')
  t.ok(ticks >= 5, `the event loop kept running during the wait (${ticks} timer ticks in 150 ms)`)
  await unlock(a)
  t.equal(await waiting, true, 'b gets the lock once a releases it')
  clearInterval(timer)
  await unlock(b)
  await a.close()
  t.equal(await lock(b), true, 'closing a handle releases its lock')
  await unlock(b)
})

t.test('a worker terminated with fallocate/flock work pending exits cleanly', async (t) => {
  const dist = path.join(__dirname, '..', 'dist', 'index.js')
  if (!fs.existsSync(dist) || !fs.readFileSync(dist, 'utf8').includes('punchHole')) return t.skip('dist/ is not built with the space calls (npm run build)')
  const { Worker } = await import('node:worker_threads')
  const dir = scratch(t)
  const p = path.join(dir, 'w')
  fs.writeFileSync(p, Buffer.alloc(1 << 20))
  for (let round = 0; round < 5; round++) {
    const w = new Worker(
      `const d = require(${JSON.stringify(dist)});
       const { parentPort } = require('node:worker_threads');
       (async () => {
         const fh = await d.open(${JSON.stringify(p)}, 'r+');
         for (let i = 0; i < 20; i++) { d.allocate(fh, i * 4096, 4096, { keepSize: true }).catch(() => {}); d.punchHole(fh, i * 4096, 4096).catch(() => {}); d.lock(fh).catch(() => {}) }
         setInterval(() => {}, 1000); // stay alive: only terminate() ends it, even if every call finished first
         parentPort.postMessage('started');
       })();`,
      { eval: true },
    )
    await new Promise((r) => w.once('message', r))
    const code = await w.terminate()
    t.equal(code, 1, `round ${round}: terminate() with calls pending returns exit code 1, no crash`)
  }
})
