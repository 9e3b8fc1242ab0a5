// BufferPool (lib/api/buffer-pool.ts): aligned reusable buffers used for real
// O_DIRECT reads and writes on every backend; release refused while a
// tracked operation is pending (aborted ones included), exhaustion, foreign
// and double releases, bad options.
import t from 'tap'
import * as fs from 'node:fs'
import { BufferPool, isAligned, open } from '../lib/index'
import { forEachBackend, randomFile, sameBytes, scratch } from './helpers/backends'

forEachBackend(t, 'pool buffers carry real direct reads and writes; release waits for the kernel', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'src', 1024 * 1024)
  const fh = await open(p, 'r+', { context: ctx })
  t.teardown(() => fh.close())
  const pool = new BufferPool({ size: 64 * 1024, count: 4 })
  const b = pool.acquire()
  t.equal(b.length, 64 * 1024)
  t.ok(isAligned(b, 4096), 'aligned to 4096')
  const pending = pool.read(fh, b, { position: 64 * 1024 })
  t.throws(() => pool.release(b), { code: 'ERR_DIRECT_AIO_BUFFER_IN_USE' }, 'release while the read is pending is refused')
  t.throws(() => pool.release(b.subarray(10)), { code: 'ERR_DIRECT_AIO_BUFFER_IN_USE' }, 'also through a view')
  const { bytesRead } = await pending
  t.equal(bytesRead, 64 * 1024)
  sameBytes(t, b, data.subarray(64 * 1024, 128 * 1024), 'read into the pool buffer')
  pool.release(b)
  t.equal(pool.acquired, 0)

  const again = pool.acquire()
  t.equal(again, b, 'a released buffer is reused')
  again.fill(0x5a)
  const w = pool.write(fh, again, { position: 0 })
  t.throws(() => pool.release(again), { code: 'ERR_DIRECT_AIO_BUFFER_IN_USE' }, 'release while the write is pending is refused')
  await w
  pool.release(again)
  t.ok(fs.readFileSync(p).subarray(0, 64 * 1024).equals(Buffer.alloc(64 * 1024, 0x5a)), 'write from the pool buffer reached the file')

  // an aborted read still holds the buffer until it settles
  const c = pool.acquire()
  const ac = new AbortController()
  const r = pool.read(fh, c, { position: 0, signal: ac.signal })
  ac.abort()
  t.throws(() => pool.release(c), { code: 'ERR_DIRECT_AIO_BUFFER_IN_USE' }, 'aborted but not yet settled: still refused')
  await r.catch((e) => t.equal(e.name, 'AbortError', `aborted read rejects (${e.stage})`))
  pool.release(c)
  // pre-aborted: refused before it starts, buffer free at once
  const d = pool.acquire()
  await t.rejects(pool.read(fh, d, { position: 0, signal: AbortSignal.abort() }), { name: 'AbortError', stage: 'queued' })
  pool.release(d)

  // track() around other operations, e.g. readv
  const e1 = pool.acquire()
  const e2 = pool.acquire()
  const v = pool.track(e1, pool.track(e2, fh.readv([e1, e2], 0)))
  t.throws(() => pool.release(e2), { code: 'ERR_DIRECT_AIO_BUFFER_IN_USE' })
  await v
  pool.release(e1)
  pool.release(e2)
})

t.test('exhaustion, foreign buffers, double release, bad options', async (t) => {
  const pool = new BufferPool({ size: 4096, count: 2 })
  const a = pool.acquire()
  const b = pool.acquire()
  t.not(a.buffer, b.buffer)
  t.equal(pool.available, 0)
  t.throws(() => pool.acquire(), { code: 'ERR_DIRECT_AIO_POOL_EXHAUSTED' })
  pool.release(a)
  t.throws(() => pool.release(a), { code: 'ERR_INVALID_ARG_VALUE', message: /already released/ })
  t.throws(() => pool.release(Buffer.alloc(4096)), { code: 'ERR_INVALID_ARG_VALUE', message: /not acquired from this BufferPool/ })
  t.throws(() => new BufferPool({ size: 4096 }).release(b), { code: 'ERR_INVALID_ARG_VALUE' }, 'another pool\'s buffer')
  t.throws(() => pool.release('x' as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => pool.track(a, Promise.resolve()), { code: 'ERR_INVALID_ARG_VALUE' }, 'track on a released buffer')
  t.throws(() => pool.track(b, 5 as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => pool.read({} as never, b), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new BufferPool(undefined as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new BufferPool({} as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new BufferPool({ size: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new BufferPool({ size: 10, count: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new BufferPool({ size: 10, alignment: 3 }), { code: 'ERR_OUT_OF_RANGE' })
  const big = new BufferPool({ size: 100, alignment: 65536 })
  t.ok(isAligned(big.acquire(), 65536), 'alignment above 4096')
  const tiny = new BufferPool({ size: 511, alignment: 512 })
  t.equal(tiny.acquire().length, 511, 'any size')
})

t.test('a pool buffer handed to the kernel directly is invisible to the pool (the documented rule)', async (t) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'f', 8192)
  const fh = await open(p, 'r')
  t.teardown(() => fh.close())
  const pool = new BufferPool({ size: 4096 })
  const b = pool.acquire()
  const r = fh.read(b, { position: 0 })
  t.doesNotThrow(() => pool.release(b), 'not tracked: the pool cannot know, so the caller must await first')
  await r
  pool.acquire()
})
