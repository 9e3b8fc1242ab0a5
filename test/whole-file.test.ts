// readFile/writeFile (lib/api/whole-file.ts) on real files over every
// backend: odd sizes, every data type, the atomic path form under aborts at
// each stage, bad input that must write nothing, and one 1 GiB + 1 file.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allocAligned, open, readFile, readFileFromHandle, writeFile, writeFileToHandle } from '../lib/index'
import { availableBackends, forEachBackend, randomFile, rng, sameBytes, scratch } from './helpers/backends'
import { IoContext } from '../lib/index'

const SIZES = [0, 1, 511, 512, 4095, 4096, 4097, 10_000, 1024 * 1024 + 3]

function tmpLeft(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))
}

forEachBackend(t, 'readFile: exact bytes for odd sizes, handle and path forms', async (t, ctx) => {
  const dir = scratch(t)
  for (const size of SIZES) {
    const { path: p, data } = randomFile(dir, `r${size}`, size)
    const fh = await open(p, 'r', { context: ctx })
    const got = await readFileFromHandle(fh, {})
    sameBytes(t, got, data, `readFileFromHandle ${size} bytes`)
    t.equal(got.length, size)
    const again = await readFile(fh)
    sameBytes(t, again, data, `readFile(fh) ${size} bytes`)
    await fh.close()
    sameBytes(t, await readFile(p, { context: ctx }), data, `readFile(path) ${size} bytes`)
  }
})

forEachBackend(t, 'writeFile(fh): exact bytes for odd sizes, every data type, shrink and grow', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const p = path.join(dir, 'w')
  const fh = await open(p, 'w+', { context: ctx })
  t.teardown(() => fh.close())
  for (const size of [...SIZES, 700, 0, 10_000, 3]) {
    const data = Buffer.alloc(size)
    r.fill(data)
    await writeFileToHandle(fh, data, { sync: size % 2 === 1 })
    sameBytes(t, fs.readFileSync(p), data, `Buffer ${size} bytes`)
    // unaligned view (byteOffset 1) of aligned memory, and a Uint16Array
    const al = allocAligned(size + 1)
    al.set(data, 1)
    await writeFile(fh, al.subarray(1))
    sameBytes(t, fs.readFileSync(p), data, `misaligned view ${size} bytes`)
    if (size % 2 === 0) {
      const u16 = new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + size))
      await writeFile(fh, u16)
      sameBytes(t, fs.readFileSync(p), data, `Uint16Array ${size} bytes`)
    }
    const dv = new DataView(al.buffer, al.byteOffset + 1, size)
    await writeFile(fh, dv)
    sameBytes(t, fs.readFileSync(p), data, `DataView ${size} bytes`)
  }
  await writeFile(fh, 'héllo wörld')
  t.equal(fs.readFileSync(p, 'utf8'), 'héllo wörld', 'string, utf8')
  await writeFile(fh, '68656c6c6f', { encoding: 'hex' })
  t.equal(fs.readFileSync(p, 'utf8'), 'hello', 'string, hex encoding')
  // aligned memory of an aligned length goes straight to the kernel
  const big = allocAligned(3 * 4096 + 100)
  r.fill(big)
  await writeFile(fh, big, { sync: true })
  sameBytes(t, fs.readFileSync(p), big, 'aligned head written in place, tail padded and truncated')
})

forEachBackend(t, 'writeFile(path): atomic replace, odd sizes, mode', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const p = path.join(dir, 'target')
  for (const size of SIZES) {
    const data = Buffer.alloc(size)
    r.fill(data)
    await writeFile(p, data, { context: ctx, sync: size === 4097 })
    sameBytes(t, fs.readFileSync(p), data, `${size} bytes`)
    t.same(tmpLeft(dir), [], 'no temporary file left')
  }
  fs.chmodSync(p, 0o640)
  await writeFile(p, 'x', { context: ctx })
  t.equal(fs.statSync(p).mode & 0o777, 0o640, 'keeps the replaced file\'s mode by default')
  await writeFile(path.join(dir, 'm'), 'y', { context: ctx, mode: 0o600 })
  t.equal(fs.statSync(path.join(dir, 'm')).mode & 0o777, 0o600, 'mode option')
  fs.symlinkSync(p, path.join(dir, 'link'))
  await writeFile(path.join(dir, 'link'), 'via link', { context: ctx })
  t.equal(fs.readFileSync(p, 'utf8'), 'via link', 'a symlink is followed')
  t.ok(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink(), 'the link stays a link')
  await writeFile(new URL(`file://${path.join(dir, 'u')}`), 'z', { context: ctx })
  t.equal(fs.readFileSync(path.join(dir, 'u'), 'utf8'), 'z', 'URL path')
})

forEachBackend(t, 'aborts: pre-aborted is queued and writes nothing; mid-way never shows a partial file', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const { path: p, data: old } = randomFile(dir, 'old', 10_000)
  const fh = await open(p, 'r+', { context: ctx })
  const pre = AbortSignal.abort(new Error('stop'))
  await t.rejects(readFileFromHandle(fh, { signal: pre }), { name: 'AbortError', stage: 'queued' }, 'readFile(fh) pre-aborted')
  await t.rejects(readFile(p, { signal: pre, context: ctx }), { name: 'AbortError', stage: 'queued' }, 'readFile(path) pre-aborted')
  await t.rejects(writeFileToHandle(fh, 'new', { signal: pre }), { name: 'AbortError', stage: 'queued' }, 'writeFile(fh) pre-aborted')
  await t.rejects(writeFile(p, 'new', { signal: pre, context: ctx }), { name: 'AbortError', stage: 'queued' }, 'writeFile(path) pre-aborted')
  await fh.close()
  sameBytes(t, fs.readFileSync(p), old, 'file untouched by the pre-aborted writes')
  t.same(tmpLeft(dir), [])

  const big = Buffer.alloc(24 * 1024 * 1024 + 5)
  r.fill(big)
  let aborted = 0
  let completed = 0
  const stages = new Set<string>()
  for (const delay of [0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1000]) {
    fs.writeFileSync(p, old)
    const ac = new AbortController()
    const timer = delay === 0 ? setImmediate(() => ac.abort()) : setTimeout(() => ac.abort(), delay)
    try {
      await writeFile(p, big, { signal: ac.signal, context: ctx })
      completed++
      sameBytes(t, fs.readFileSync(p), big, `delay ${delay}: completed, new content`)
    } catch (e) {
      const err = e as { name: string; stage: string }
      t.equal(err.name, 'AbortError', `delay ${delay}: AbortError (${err.stage})`)
      stages.add(err.stage)
      aborted++
      sameBytes(t, fs.readFileSync(p), old, `delay ${delay}: aborted before the rename, old file untouched`)
    } finally {
      clearTimeout(timer as NodeJS.Timeout)
      clearImmediate(timer as NodeJS.Immediate)
    }
    t.same(tmpLeft(dir), [], 'no temporary file left')
    if (completed >= 2) break
  }
  t.ok(aborted > 0, `some writeFile calls were aborted (${aborted}; stages ${[...stages].join(', ')})`)

  // writeFile(fh) aborted mid-way: an AbortError once every write has settled; then the handle is usable.
  {
    const h = await open(p, 'r+', { context: ctx })
    const ac = new AbortController()
    const pending = writeFile(h, big, { signal: ac.signal })
    setImmediate(() => ac.abort())
    const e = await pending.then(() => null, (err) => err)
    t.ok(e === null || e.name === 'AbortError', `writeFile(fh) mid-way: ${e ? `AbortError (${e.stage})` : 'completed first'}`)
    t.equal(ctx.stats().queued + ctx.stats().depth.current, 0, 'no write left queued or in flight when it rejects')
    await writeFile(h, 'after')
    t.equal(fs.readFileSync(p, 'utf8'), 'after', 'the handle is usable after the abort')
    await h.close()
  }

  // readFile aborted mid-way: an AbortError, or the whole file if it won the race.
  fs.writeFileSync(p, big)
  for (const delay of [0, 1, 4, 16]) {
    const ac = new AbortController()
    setTimeout(() => ac.abort(), delay)
    try {
      sameBytes(t, await readFile(p, { signal: ac.signal, context: ctx }), big, `readFile delay ${delay}: completed`)
    } catch (e) {
      t.equal((e as Error).name, 'AbortError', `readFile delay ${delay}: AbortError (${(e as { stage: string }).stage})`)
    }
  }
})

forEachBackend(t, 'bad input: typed errors, nothing written', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data: old } = randomFile(dir, 'keep', 4097)
  const fh = await open(p, 'r+', { context: ctx })
  for (const bad of [123, null, undefined, {}, [1, 2]]) {
    await t.rejects(writeFile(fh, bad as never), { code: 'ERR_INVALID_ARG_TYPE' }, `writeFile(fh, ${String(bad)})`)
    await t.rejects(writeFile(p, bad as never, { context: ctx }), { code: 'ERR_INVALID_ARG_TYPE' }, `writeFile(path, ${String(bad)})`)
  }
  await t.rejects(writeFile(fh, 'x', { sync: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(writeFile(fh, 'x', { signal: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(writeFile(fh, 'x', { encoding: 'nope' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(writeFile(p, 'x', { mode: -1, context: ctx }), { code: 'ERR_OUT_OF_RANGE' })
  await t.rejects(writeFile(p, 'x', { context: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(writeFile(p, 'x', 5 as never), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(readFileFromHandle({} as never), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(readFile(42 as never), { code: 'ERR_INVALID_ARG_TYPE' })
  sameBytes(t, fs.readFileSync(p), old, 'nothing written')
  t.same(tmpLeft(dir), [], 'no temporary file created')
  await t.rejects(readFile(path.join(dir, 'missing'), { context: ctx }), { code: 'ENOENT', syscall: 'open' })
  await t.rejects(writeFile(path.join(dir, 'no', 'such', 'dir'), 'x', { context: ctx }), { code: 'ENOENT', syscall: 'open' })
  const ro = await open(p, 'r', { context: ctx })
  await t.rejects(writeFile(ro, 'abc'), { code: 'EBADF' }, 'writeFile on a read-only handle: EBADF')
  await ro.close()
  sameBytes(t, fs.readFileSync(p), old, 'still nothing written')
  await fh.close()
  await t.rejects(readFile(fh), { code: 'EBADF' }, 'readFile after close: EBADF')
  await t.rejects(writeFile(fh, 'x'), { code: 'EBADF' }, 'writeFile after close: EBADF')
})

t.test('buffered handles (direct: false) work too', async (t) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'b', 10_000)
  sameBytes(t, await readFile(p, { direct: false }), data, 'readFile direct:false')
  await writeFile(p, data.subarray(3), { direct: false })
  sameBytes(t, fs.readFileSync(p), data.subarray(3), 'writeFile direct:false')
})

const GiB = 1024 * 1024 * 1024
t.test('1 GiB + 1: writeFile(path) then readFile(path), byte-exact', async (t) => {
  const dir = scratch(t)
  const free = fs.statfsSync(dir)
  const avail = free.bavail * free.bsize
  if (avail < 3 * GiB) return t.skip(`needs 3 GiB free in ${dir}, has ${avail}`)
  const backend = availableBackends()[0]
  const ctx = new IoContext({ backend })
  t.teardown(() => ctx.close())
  const big = Buffer.allocUnsafe(GiB + 1)
  const r = rng(t)
  const tile = Buffer.alloc(1024 * 1024 + 7)
  r.fill(tile)
  for (let o = 0; o < big.length; o += tile.length) tile.copy(big, o)
  const p = path.join(dir, 'huge')
  let t0 = Date.now()
  await writeFile(p, big, { context: ctx, sync: true })
  t.comment(`writeFile 1 GiB + 1 on ${backend}: ${Date.now() - t0} ms`)
  t.equal(fs.statSync(p).size, GiB + 1, 'true length')
  const fd = fs.openSync(p, 'r')
  const probe = Buffer.alloc(tile.length)
  for (const at of [0, 512 * 1024 * 1024 - 3, GiB + 1 - tile.length]) {
    fs.readSync(fd, probe, 0, probe.length, at)
    sameBytes(t, probe, big.subarray(at, at + probe.length), `bytes at ${at} (buffered check)`)
  }
  fs.closeSync(fd)
  t0 = Date.now()
  const got = await readFile(p, { context: ctx })
  t.comment(`readFile 1 GiB + 1 on ${backend}: ${Date.now() - t0} ms`)
  t.equal(got.length, GiB + 1)
  t.ok(got.equals(big), 'readFile returns the exact bytes')
})
