// Streams (lib/api/read-stream.ts, write-stream.ts, streams.ts) on real files over every backend: exact bytes
// for any start/end, fresh chunks a slow consumer can keep, read-ahead and
// write-behind depth, back-pressure, the padded tail and true length, aborts
// (pre-aborted, destroy, signal mid-way) with the context's stats, web
// streams, path forms and bad input.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { once } from 'node:events'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { BufferPool, createReadStream, createReadStreamFromHandle, createWriteStream, createWriteStreamToHandle, IoContext, open, readableWebStreamFromHandle } from '../lib/index'
import type { DirectReadStream } from '../lib/index'
import { forEachBackend, randomFile, rng, sameBytes, scratch } from './helpers/backends'

const SIZES = [0, 1, 511, 4095, 4097, 10_000, 300_001]

/** Every chunk as pushed ('data' events; async iteration would concatenate). Slow: pause 1 ms after each. */
function collect(s: Readable, slow = false): Promise<Buffer[]> {
  const chunks: Buffer[] = []
  return new Promise((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      chunks.push(c)
      if (slow) {
        s.pause()
        setTimeout(() => s.resume(), 1)
      }
    })
    s.on('error', reject)
    s.on('end', () => resolve(chunks))
  })
}

forEachBackend(t, 'read stream: exact bytes for any start/end, fresh chunks', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  for (const size of SIZES) {
    const { path: p, data } = randomFile(dir, `f${size}`, size)
    const fh = await open(p, 'r', { context: ctx })
    const ranges: Array<[number | undefined, number | undefined]> = [[undefined, undefined], [0, size - 1], [1, undefined], [511, 4096], [size, undefined], [3, 3]]
    for (let i = 0; i < 6; i++) {
      const a = r.int(size + 10)
      ranges.push([a, a + r.int(size + 10)])
    }
    for (const [start, end] of ranges) {
      if (end !== undefined && (end < 0 || (start !== undefined && start > end + 1))) continue
      for (const [hwm, readAhead] of [[undefined, undefined], [1000, 1], [4096 * 3, 8]] as const) {
        const chunks = await collect(createReadStreamFromHandle(fh, { start, end, highWaterMark: hwm, readAhead }), size === 300_001 && readAhead === 1)
        const want = data.subarray(start ?? 0, end === undefined ? undefined : end + 1)
        sameBytes(t, Buffer.concat(chunks), want, `size ${size} [${start}, ${end}] hwm ${hwm} readAhead ${readAhead}`)
        t.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length, 'every chunk is its own memory')
      }
    }
    await fh.close()
  }
})

forEachBackend(t, 'read stream: readAhead reads are in flight at once', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'ra', 4 * 1024 * 1024)
  const fh = await open(p, 'r', { context: ctx })
  t.teardown(() => fh.close())
  const s = createReadStreamFromHandle(fh, { highWaterMark: 64 * 1024, readAhead: 8 })
  let peak = 0
  const timer = setInterval(() => (peak = Math.max(peak, ctx.stats().depth.current + ctx.stats().queued)), 0)
  s.on('data', () => (peak = Math.max(peak, ctx.stats().depth.current + ctx.stats().queued)))
  const chunks = await collect(s)
  clearInterval(timer)
  sameBytes(t, Buffer.concat(chunks), data, 'content')
  t.ok(peak > 1, `more than one read outstanding at once (peak seen ${peak}, readAhead 8)`)
  t.ok(peak <= 8, 'never more than readAhead')
})

forEachBackend(
  t,
  'read stream: destroy, signal abort and pre-aborted signal; stats show the saved reads',
  async (t, ctx) => {
    const dir = scratch(t)
    const { path: p } = randomFile(dir, 'big', 16 * 1024 * 1024)
    const fh = await open(p, 'r', { context: ctx })
    t.teardown(() => fh.close())

    let before = ctx.stats()
    const s1 = createReadStreamFromHandle(fh, { highWaterMark: 256 * 1024, readAhead: 16 })
    s1.once('data', () => s1.destroy())
    await once(s1, 'close')
    let after = ctx.stats()
    const cancelled = (a: typeof after, b: typeof before) => a.requests.cancelledQueued + a.requests.cancelledKernel - b.requests.cancelledQueued - b.requests.cancelledKernel
    t.ok(cancelled(after, before) >= 1, `destroy(): ${cancelled(after, before)} reads cancelled before reaching the device`)
    t.ok(after.bytes.saved - before.bytes.saved > 0, `destroy(): ${after.bytes.saved - before.bytes.saved} bytes saved`)
    t.equal(after.queued, 0, 'nothing left queued after close')
    t.equal(after.depth.current, 0, 'nothing left in flight after close')

    before = ctx.stats()
    const ac = new AbortController()
    const s2 = createReadStreamFromHandle(fh, { highWaterMark: 256 * 1024, readAhead: 16, signal: ac.signal })
    s2.once('data', () => ac.abort(new Error('client went away')))
    const closed2 = new Promise((r) => s2.once('close', r))
    const [err] = await once(s2, 'error')
    t.equal(err.name, 'AbortError', `signal abort: the stream errors with the AbortError (stage ${err.stage})`)
    t.equal(err.cause?.message, 'client went away', 'cause is the signal reason')
    await closed2
    after = ctx.stats()
    t.ok(cancelled(after, before) >= 1, `signal abort: ${cancelled(after, before)} reads cancelled`)

    before = ctx.stats()
    const s3 = createReadStreamFromHandle(fh, { signal: AbortSignal.abort() })
    const [err3] = await once(s3, 'error')
    t.match(err3, { name: 'AbortError', stage: 'queued' }, 'pre-aborted signal: AbortError, stage queued')
    t.equal(ctx.stats().requests.submitted, before.requests.submitted, 'pre-aborted: no read was submitted')
  },
  { maxInFlight: 1 },
)

forEachBackend(t, 'write stream: exact bytes and true length for odd sizes and chunkings', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  for (const size of SIZES) {
    const data = Buffer.alloc(size)
    r.fill(data)
    for (const [hwm, writeBehind, sync] of [[undefined, undefined, false], [1000, 1, true], [4096 * 2, 8, false]] as const) {
      const p = path.join(dir, `w${size}-${hwm}`)
      const fh = await open(p, 'w+', { context: ctx })
      const ws = createWriteStreamToHandle(fh, { highWaterMark: hwm, writeBehind, sync })
      let off = 0
      const pieces: Buffer[] = []
      while (off < size) {
        const n = Math.min(size - off, 1 + r.int(9000))
        pieces.push(data.subarray(off, off + n))
        off += n
      }
      await pipeline(Readable.from(pieces), ws)
      t.equal(ws.bytesWritten, size, 'bytesWritten')
      await fh.close()
      sameBytes(t, fs.readFileSync(p), data, `size ${size} hwm ${hwm} writeBehind ${writeBehind} sync ${sync}`)
    }
  }
  // strings and typed arrays
  const p = path.join(dir, 'mixed')
  const ws = createWriteStream(p, { context: ctx })
  ws.write('héllo ')
  ws.write(new Uint16Array([0x6968]))
  ws.end(Buffer.from('!'))
  await once(ws, 'close')
  t.equal(fs.readFileSync(p, 'utf8'), 'héllo hi!', 'string, Uint16Array and Buffer chunks')
})

forEachBackend(t, 'write stream: unaligned start keeps the bytes around the written range', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'mid', 20_000)
  const fh = await open(p, 'r+', { context: ctx })
  t.teardown(() => fh.close())
  const patch = Buffer.alloc(5000, 0xab)
  const ws = createWriteStreamToHandle(fh, { start: 1234, highWaterMark: 4096 })
  ws.end(patch)
  await once(ws, 'finish')
  const want = Buffer.from(data)
  patch.copy(want, 1234)
  sameBytes(t, fs.readFileSync(p), want, 'bytes before and after the range kept, length unchanged')
  // past the old end: the file grows to exactly start + length
  const ws2 = createWriteStreamToHandle(fh, { start: 19_999, highWaterMark: 4096 })
  ws2.end(Buffer.from('xyz'))
  await once(ws2, 'finish')
  const want2 = Buffer.concat([want.subarray(0, 19_999), Buffer.from('xyz')])
  sameBytes(t, fs.readFileSync(p), want2, 'grows to the true end, no padding')
})

forEachBackend(t, 'write stream: back-pressure and writeBehind depth', async (t, ctx) => {
  const dir = scratch(t)
  const p = path.join(dir, 'bp')
  const fh = await open(p, 'w', { context: ctx })
  t.teardown(() => fh.close())
  const ws = createWriteStreamToHandle(fh, { highWaterMark: 64 * 1024, writeBehind: 4 })
  const chunk = Buffer.alloc(64 * 1024, 7)
  let falses = 0
  let peak = 0
  for (let i = 0; i < 200; i++) {
    peak = Math.max(peak, ctx.stats().depth.current + ctx.stats().queued)
    if (!ws.write(chunk)) {
      falses++
      await once(ws, 'drain')
    }
  }
  ws.end()
  await once(ws, 'finish')
  t.ok(falses > 0, `write() returned false ${falses} times and 'drain' followed`)
  t.ok(peak <= 4, `at most writeBehind writes outstanding (peak seen ${peak})`)
  t.equal(fs.statSync(p).size, 200 * 64 * 1024)
})

forEachBackend(
  t,
  'write stream: aborts',
  async (t, ctx) => {
    const dir = scratch(t)
    const { path: p, data: old } = randomFile(dir, 'keep', 10_000)
    const fh = await open(p, 'r+', { context: ctx })
    t.teardown(() => fh.close())
    const ws = createWriteStreamToHandle(fh, { signal: AbortSignal.abort() })
    ws.write(Buffer.alloc(100_000, 1))
    const closed = new Promise((r) => ws.once('close', r))
    const [err] = await once(ws, 'error')
    t.match(err, { name: 'AbortError', stage: 'queued' }, 'pre-aborted: AbortError, stage queued')
    await closed
    sameBytes(t, fs.readFileSync(p), old, 'pre-aborted: nothing written')

    const before = ctx.stats()
    const ac = new AbortController()
    const ws2 = createWriteStreamToHandle(fh, { signal: ac.signal, highWaterMark: 256 * 1024, writeBehind: 8 })
    const big = Buffer.alloc(256 * 1024, 2)
    let n = 0
    const errP = once(ws2, 'error')
    const closed2 = new Promise((r) => ws2.once('close', r))
    const pump = async () => {
      while (!ws2.destroyed && n < 1000) {
        n++
        if (n === 20) ac.abort(new Error('enough'))
        if (!ws2.write(big)) {
          // One 'drain' listener per wait, removed once either side settles (no listener build-up).
          let onDrain = () => {}
          await Promise.race([new Promise<void>((r) => ws2.once('drain', (onDrain = () => r()))), closed2])
          ws2.off('drain', onDrain)
        }
      }
    }
    await pump()
    const [err2] = await errP
    t.equal(err2.name, 'AbortError', `mid-way abort: AbortError (stage ${err2.stage})`)
    t.equal(err2.cause?.message, 'enough')
    t.ok(n < 1000, `the stream stopped accepting writes (${n} written)`)
    await closed2
    const after = ctx.stats()
    t.equal(after.queued + after.depth.current, 0, 'nothing left queued or in flight')
    t.comment(`mid-way abort: ${after.requests.cancelledQueued - before.requests.cancelledQueued} writes cancelled while queued, ${after.bytes.saved - before.bytes.saved} bytes saved`)
    t.ok(fs.statSync(p).size < n * big.length, 'not everything reached the file')
  },
  { maxInFlight: 1 },
)

forEachBackend(t, 'readableWebStream, path forms, bad input', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'web', 100_003)
  const fh = await open(p, 'r', { context: ctx })
  t.teardown(() => fh.close())
  const parts: Uint8Array[] = []
  for await (const c of readableWebStreamFromHandle(fh)) parts.push(c)
  sameBytes(t, Buffer.concat(parts), data, 'web stream bytes')
  const reader = readableWebStreamFromHandle(fh, { highWaterMark: 4096 }).getReader()
  await reader.read()
  await reader.cancel()
  t.pass('web stream cancel settles')

  const rs: DirectReadStream = createReadStream(p, { context: ctx, start: 7, end: 99_999 })
  sameBytes(t, Buffer.concat(await collect(rs)), data.subarray(7, 100_000), 'createReadStream(path)')
  const missing = createReadStream(path.join(dir, 'nope'), { context: ctx })
  const [e] = await once(missing, 'error')
  t.match(e, { code: 'ENOENT', syscall: 'open' }, 'path that does not exist: ENOENT as the stream error')
  const out = path.join(dir, 'out')
  await pipeline(createReadStream(p, { context: ctx }), createWriteStream(out, { context: ctx, sync: true }))
  sameBytes(t, fs.readFileSync(out), data, 'createReadStream(path) piped into createWriteStream(path)')

  t.throws(() => createReadStreamFromHandle(fh, { start: 10, end: 5 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => createReadStreamFromHandle(fh, { start: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => createReadStreamFromHandle(fh, { highWaterMark: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => createReadStreamFromHandle(fh, { readAhead: 1.5 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => createReadStreamFromHandle(fh, { signal: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => createReadStreamFromHandle({} as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => createWriteStreamToHandle(fh, { writeBehind: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => createWriteStreamToHandle(fh, { sync: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => createWriteStream(5 as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => createReadStream(p, { context: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  const ws = createWriteStreamToHandle(fh)
  ws.end(Buffer.from('x'))
  const [we] = await once(ws, 'error')
  t.match(we, { code: 'EBADF' }, 'writing through a read-only handle: EBADF as the stream error')
  sameBytes(t, fs.readFileSync(p), data, 'nothing written')
})

forEachBackend(t, 'read stream with a BufferPool: chunks are pool buffers, the stream waits for releases', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'pooled', 1024 * 1024 + 333)
  const fh = await open(p, 'r', { context: ctx })
  t.teardown(() => fh.close())
  const pool = new BufferPool({ size: 64 * 1024, count: 3 })
  // Consumer copies and releases each chunk: exact bytes, pool drained back to 0.
  const copies: Buffer[] = []
  const s = createReadStreamFromHandle(fh, { pool, start: 5, readAhead: 8 })
  s.on('data', (c: Buffer) => {
    copies.push(Buffer.from(c))
    pool.release(c)
  })
  await once(s, 'close')
  sameBytes(t, Buffer.concat(copies), data.subarray(5), 'bytes through 3 pool buffers')
  t.equal(pool.acquired, 0, 'every buffer back in the pool')

  // A consumer that holds every buffer stalls the stream until it releases one.
  const held: Buffer[] = []
  const s2 = createReadStreamFromHandle(fh, { pool, readAhead: 8 })
  s2.on('data', (c: Buffer) => held.push(c))
  await new Promise((r) => setTimeout(r, 100))
  t.equal(held.length, 3, 'with all 3 buffers held, no more data arrives')
  t.equal(pool.available, 0)
  const first = held.map((c) => Buffer.from(c))
  for (const c of held.splice(0)) pool.release(c)
  await new Promise((r) => setTimeout(r, 100))
  t.ok(held.length > 0, 'releasing them resumes the stream')
  s2.destroy()
  await once(s2, 'close')
  sameBytes(t, Buffer.concat(first), data.subarray(0, 3 * 64 * 1024), 'the held chunks were intact')
  t.equal(pool.acquired, held.length, 'after destroy only the chunks the consumer holds are out')
  for (const c of held) pool.release(c)
  t.throws(() => createReadStreamFromHandle(fh, { pool: new BufferPool({ size: 1000 }) }), { code: 'ERR_INVALID_ARG_VALUE' }, 'pool size must be a multiple of the block')
  t.throws(() => createReadStreamFromHandle(fh, { pool: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' })
})

t.test('buffered handles (direct: false): streams work with no alignment', async (t) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'b', 10_001)
  const ctx = new IoContext()
  t.teardown(() => ctx.close())
  const got = await collect(createReadStream(p, { direct: false, start: 3, end: 9_000, highWaterMark: 1000, context: ctx }))
  sameBytes(t, Buffer.concat(got), data.subarray(3, 9_001), 'read stream, direct: false')
  const out = path.join(dir, 'o')
  await pipeline(Readable.from([data.subarray(0, 5), data.subarray(5)]), createWriteStream(out, { direct: false, highWaterMark: 1000, context: ctx }))
  sameBytes(t, fs.readFileSync(out), data, 'write stream, direct: false')
})
