// Data integrity of DirectFileHandle on real ext4 files, over every backend:
// read/write/readv/writev with 64 requests in flight, short reads at EOF,
// position-less and bigint positions, typed-array and DataView buffers,
// sync/datasync/stat/truncate, async disposal and close() draining.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allocAligned, alignDown, alignUp, open } from '../lib/index'
import type { DirectFileHandle } from '../lib/index'
import { forEachBackend, randomFile, rng, sameBytes, scratch } from './helpers/backends'

const KiB = 1024
const MiB = 1024 * KiB
const BLOCK = 4 * KiB

/** Split `len` (a multiple of BLOCK) into 1..max aligned pieces. */
function pieces(r: ReturnType<typeof rng>, len: number, max: number): number[] {
  const blocks = len / BLOCK
  const n = 1 + r.int(Math.min(max, blocks))
  const out: number[] = []
  let left = blocks
  for (let i = 0; i < n - 1; i++) {
    const b = 1 + r.int(left - (n - 1 - i))
    out.push(b * BLOCK)
    left -= b
  }
  out.push(left * BLOCK)
  return out
}

forEachBackend(
  t,
  'random aligned read/write/readv/writev, 64 in flight',
  async (t, ctx, backend) => {
    const dir = scratch(t)
    const r = rng(t)
    const SLOT = 64 * KiB
    const SLOTS = 128
    const SIZE = SLOT * SLOTS // 8 MiB
    const IN_FLIGHT = 64
    const model = Buffer.alloc(SIZE)
    const f = await open(path.join(dir, 'data.bin'), 'w+', { context: ctx })
    t.teardown(() => f.close())

    // Fill the whole file with one large write (split into chunks inside).
    r.fill(model)
    const whole = allocAligned(SIZE)
    model.copy(whole)
    t.equal((await f.write(whole, 0, SIZE, 0)).bytesWritten, SIZE, 'initial 8 MiB write')

    // Rounds of 64 concurrent writes, each inside its own 64 KiB slot so no two overlap.
    let writes = 0
    for (let round = 0; round < 6; round++) {
      const slots = Array.from({ length: SLOTS }, (_, i) => i)
      for (let i = slots.length - 1; i > 0; i--) {
        const j = r.int(i + 1)
        ;[slots[i], slots[j]] = [slots[j], slots[i]]
      }
      const ops = slots.slice(0, IN_FLIGHT).map(async (slot) => {
        const startBlock = r.int(SLOT / BLOCK)
        const blocks = 1 + r.int(SLOT / BLOCK - startBlock)
        const pos = slot * SLOT + startBlock * BLOCK
        const len = blocks * BLOCK
        const vectored = r.int(2) === 1
        const sizes = vectored ? pieces(r, len, 4) : [len]
        const bufs = sizes.map((s) => allocAligned(s))
        let at = pos
        for (const b of bufs) {
          r.fill(b)
          b.copy(model, at)
          at += b.length
        }
        writes++
        if (vectored) {
          const res = await f.writev(bufs, pos)
          if (res.bytesWritten !== len || res.buffers !== bufs) t.fail('writev result', { res, len })
        } else {
          const res = await f.write(bufs[0], 0, len, pos)
          if (res.bytesWritten !== len || res.buffer !== bufs[0]) t.fail('write result', { bytesWritten: res.bytesWritten, len })
        }
      })
      await Promise.all(ops)
    }
    t.equal(writes, 6 * IN_FLIGHT, 'every write resolved with its full length and its own buffer(s)')

    // Rounds of 64 concurrent reads anywhere (overlapping, across slots), checked against the model.
    let mismatches = 0
    for (let round = 0; round < 6; round++) {
      const ops = Array.from({ length: IN_FLIGHT }, async () => {
        const blocks = 1 + r.int(32)
        const pos = r.int(SIZE / BLOCK - blocks + 1) * BLOCK
        const len = blocks * BLOCK
        const vectored = r.int(2) === 1
        if (vectored) {
          const bufs = pieces(r, len, 5).map((s) => allocAligned(s))
          const res = await f.readv(bufs, pos)
          if (res.bytesRead !== len) t.equal(res.bytesRead, len, 'readv length')
          if (!Buffer.concat(bufs).equals(model.subarray(pos, pos + len))) mismatches++
        } else {
          const buf = allocAligned(len)
          const res = await f.read(buf, 0, len, pos)
          if (res.bytesRead !== len) t.equal(res.bytesRead, len, 'read length')
          if (!buf.equals(model.subarray(pos, pos + len))) mismatches++
        }
      })
      await Promise.all(ops)
    }
    t.equal(mismatches, 0, 'every concurrent read matched what was written')

    // One large read of everything (chunked inside), byte for byte.
    const back = allocAligned(SIZE)
    t.equal((await f.read(back, 0, SIZE, 0)).bytesRead, SIZE)
    sameBytes(t, back, model, 'whole file matches the model')

    // And the same bytes through the page cache, to be sure they reached the file.
    await f.datasync()
    sameBytes(t, fs.readFileSync(path.join(dir, 'data.bin')), model, 'buffered read agrees')

    const s = ctx.stats()
    t.equal(s.requests.failed, 0)
    t.equal(s.queued, 0)
    t.equal(s.depth.current, 0)
    if (backend === 'threadpool') t.ok(s.depth.peak >= 1 && s.depth.peak <= IN_FLIGHT, `peak depth ${s.depth.peak}`)
    else t.equal(s.depth.peak, IN_FLIGHT, '64 requests were in the kernel at once')
  },
  { maxInFlight: 64 },
)

forEachBackend(t, 'large vectored I/O split into chunks mid-buffer', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const f = await open(path.join(dir, 'vec.bin'), 'w+', { context: ctx })
  t.teardown(() => f.close())
  // 171 buffers of 12 KiB (~2 MiB): chunk boundaries (512 KiB or less) fall inside buffers.
  const out = Array.from({ length: 171 }, () => {
    const b = allocAligned(12 * KiB)
    r.fill(b)
    return b
  })
  const total = 171 * 12 * KiB
  t.equal((await f.writev(out, 4096)).bytesWritten, total)
  // Read back with a different split: 20 KiB buffers and a 4 KiB tail... into the same total.
  const sizes: number[] = []
  for (let left = total; left > 0; left -= Math.min(left, 20 * KiB)) sizes.push(Math.min(left, 20 * KiB))
  const inn = sizes.map((s) => allocAligned(s))
  t.equal((await f.readv(inn, 4096n)).bytesRead, total)
  sameBytes(t, Buffer.concat(inn), Buffer.concat(out), 'readv(20 KiB pieces) == writev(12 KiB pieces)')
})

forEachBackend(t, 'short reads at end of file', async (t, ctx) => {
  const dir = scratch(t)
  const SIZE = 1 * MiB + 1234 // not a multiple of any request size below
  const { path: p, data } = randomFile(dir, 'short.bin', SIZE)
  const f = await open(p, 'r', { context: ctx })
  t.teardown(() => f.close())

  // Sequential position-less reads of 64 KiB until EOF.
  const buf = allocAligned(64 * KiB)
  const got: Buffer[] = []
  const counts: number[] = []
  for (;;) {
    const { bytesRead } = await f.read(buf, 0, buf.length, null)
    counts.push(bytesRead)
    if (bytesRead === 0) break
    got.push(Buffer.from(buf.subarray(0, bytesRead)))
    if (counts.length > 100) break
  }
  t.same(counts.slice(-2), [1234, 0], 'last read is short (1234 bytes), then 0 at EOF')
  t.equal(counts.length, 16 + 2)
  sameBytes(t, Buffer.concat(got), data, 'position-less reads return the file in order')

  // Positioned read straddling EOF.
  const tail = alignDown(SIZE, BLOCK)
  const b2 = allocAligned(16 * KiB)
  const r2 = await f.read(b2, 0, b2.length, tail)
  t.equal(r2.bytesRead, SIZE - tail, 'read straddling EOF returns the bytes up to EOF')
  sameBytes(t, b2.subarray(0, r2.bytesRead), data.subarray(tail), 'tail bytes')

  // Entirely past EOF.
  t.equal((await f.read(allocAligned(BLOCK), 0, BLOCK, alignUp(SIZE, BLOCK))).bytesRead, 0, 'past EOF reads 0')
  t.equal((await f.read(allocAligned(BLOCK), 0, BLOCK, 64 * MiB)).bytesRead, 0, 'far past EOF reads 0')

  // readv straddling EOF: first buffer full, second partly, third empty.
  const vs = [allocAligned(BLOCK), allocAligned(BLOCK), allocAligned(BLOCK)]
  const rv = await f.readv(vs, tail - BLOCK)
  t.equal(rv.bytesRead, BLOCK + (SIZE - tail), 'readv short at EOF')
  sameBytes(t, Buffer.concat(vs).subarray(0, rv.bytesRead), data.subarray(tail - BLOCK), 'readv tail bytes')

  // One read larger than the chunk size across EOF: later chunks find nothing.
  const big = allocAligned(4 * MiB)
  const rb = await f.read(big, 0, big.length, 0)
  t.equal(rb.bytesRead, SIZE, 'a 4 MiB read of a 1 MiB+1234 file returns the file size')
  sameBytes(t, big.subarray(0, rb.bytesRead), data, 'large short read contents')

  // 64 concurrent short reads at EOF all agree.
  const many = await Promise.all(Array.from({ length: 64 }, () => f.read(allocAligned(8 * KiB), 0, 8 * KiB, tail)))
  t.ok(
    many.every((x) => x.bytesRead === SIZE - tail && x.buffer.subarray(0, x.bytesRead).equals(data.subarray(tail))),
    '64 concurrent EOF reads',
  )
})

forEachBackend(t, 'position-less writes and reads follow the file position', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const p = path.join(dir, 'seq.bin')
  const f = await open(p, 'w+', { context: ctx })
  t.teardown(() => f.close())
  const parts: Buffer[] = []
  for (let i = 0; i < 8; i++) {
    const b = allocAligned(BLOCK * (1 + (i % 3)))
    r.fill(b)
    parts.push(b)
    const w = i % 2 === 0 ? await f.write(b) : await f.write(b, { position: null })
    t.equal(w.bytesWritten, b.length)
  }
  // writev without position continues from there.
  const v = [allocAligned(BLOCK), allocAligned(2 * BLOCK)]
  v.forEach((b) => r.fill(b))
  t.equal((await f.writev(v)).bytesWritten, 3 * BLOCK)
  parts.push(...v)
  const expected = Buffer.concat(parts)
  sameBytes(t, fs.readFileSync(p), expected, 'file holds the writes in order')

  // The position is shared by reads and writes, as with fs: reopen to read from 0.
  const g = await open(p, 'r', { context: ctx })
  t.teardown(() => g.close())
  const a = allocAligned(expected.length / 2)
  const b = [allocAligned(expected.length / 2 - BLOCK), allocAligned(BLOCK)]
  t.equal((await g.read(a)).bytesRead, a.length, 'read(buffer) with no position')
  t.equal((await g.readv(b)).bytesRead, expected.length / 2, 'readv continues')
  sameBytes(t, Buffer.concat([a, ...b]), expected, 'sequential reads return the file')
  t.equal((await g.read(allocAligned(BLOCK))).bytesRead, 0, 'then EOF')
  // A positioned read does not move the position.
  const c = allocAligned(BLOCK)
  t.equal((await g.read(c, 0, BLOCK, 0)).bytesRead, BLOCK)
  t.equal((await g.read(allocAligned(BLOCK), 0, BLOCK, -1)).bytesRead, 0, 'position -1 means current position (still at EOF)')
})

forEachBackend(t, 'bigint positions, option forms, typed arrays and DataView', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const f = await open(path.join(dir, 'views.bin'), 'w+', { context: ctx })
  t.teardown(() => f.close())

  // Write from a Uint32Array at a bigint position.
  const raw = allocAligned(16 * KiB)
  const u32 = new Uint32Array(raw.buffer, raw.byteOffset, raw.length / 4)
  for (let i = 0; i < u32.length; i++) u32[i] = (i * 2654435761) >>> 0
  const w = await f.write(u32, 0, raw.length, 8192n)
  t.equal(w.bytesWritten, raw.length)
  t.equal(w.buffer, u32, 'write resolves with the Uint32Array it was given')

  // Read into a DataView with the options form and a bigint position.
  const back = allocAligned(16 * KiB)
  const dv = new DataView(back.buffer, back.byteOffset, back.length)
  const rd = await f.read(dv, { position: 8192n })
  t.equal(rd.bytesRead, back.length)
  t.equal(rd.buffer, dv, 'read resolves with the DataView it was given')
  t.equal(dv.getUint32(4 * 5, true), (5 * 2654435761) >>> 0, 'DataView sees the Uint32 values')
  sameBytes(t, dv, u32, 'DataView bytes == Uint32Array bytes')

  // read({ buffer, offset, length, position }) into part of a Float64Array view.
  const fb = allocAligned(32 * KiB)
  const f64 = new Float64Array(fb.buffer, fb.byteOffset, fb.length / 8)
  const ro = await f.read({ buffer: f64, offset: 4096, length: 8192, position: 12288n })
  t.equal(ro.bytesRead, 8192)
  t.equal(ro.buffer, f64)
  sameBytes(t, fb.subarray(4096, 4096 + 8192), raw.subarray(4096, 4096 + 8192), 'offset/length into a Float64Array')
  t.ok(fb.subarray(0, 4096).every((x) => x === 0) && fb.subarray(12288).every((x) => x === 0), 'bytes outside [offset, offset+length) untouched')

  // write(buffer, { offset, length, position }) from the middle of a buffer.
  const src = allocAligned(12 * KiB)
  r.fill(src)
  t.equal((await f.write(src, { offset: 4096, length: 4096, position: 0n })).bytesWritten, 4096)
  const chk = allocAligned(4096)
  await f.read(chk, 0, 4096, 0)
  sameBytes(t, chk, src.subarray(4096, 8192), 'write with offset/length options')

  // readv/writev with mixed view types and a bigint position.
  const a = allocAligned(4096)
  const bb = allocAligned(8192)
  r.fill(a)
  r.fill(bb)
  const mixed: ArrayBufferView[] = [new Uint16Array(a.buffer, a.byteOffset, 2048), new DataView(bb.buffer, bb.byteOffset, 8192)]
  t.equal((await f.writev(mixed, 1n << 20n)).bytesWritten, 12288)
  const x = allocAligned(8192)
  const y = allocAligned(4096)
  t.equal((await f.readv([new Int32Array(x.buffer, x.byteOffset, 2048), new Uint8Array(y.buffer, y.byteOffset, 4096)], { position: 1n << 20n } as unknown as bigint)).bytesRead, 12288, 'readv({ position }) in the position slot')
  sameBytes(t, Buffer.concat([x, y]), Buffer.concat([a, bb]), 'mixed-view readv == writev')
  // A large bigint position inside the safe range works (sparse read past EOF).
  t.equal((await f.read(allocAligned(4096), 0, 4096, 1n << 40n)).bytesRead, 0, 'position 2^40n past EOF reads 0')
})

forEachBackend(t, 'sync, datasync, stat, truncate', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  const p = path.join(dir, 'meta.bin')
  const f = await open(p, 'w+', { context: ctx })
  t.teardown(() => f.close())
  const b = allocAligned(64 * KiB)
  r.fill(b)
  await f.write(b, 0, b.length, 0)
  t.equal(await f.sync(), undefined, 'sync resolves')
  t.equal(await f.datasync(), undefined, 'datasync resolves')
  await Promise.all([f.sync(), f.datasync(), f.read(allocAligned(4096), 0, 4096, 0), f.sync()])
  t.pass('sync and datasync mixed with reads')

  const st = await f.stat()
  const ref = fs.statSync(p)
  t.ok(st instanceof fs.Stats, 'stat() gives an fs.Stats')
  t.ok(st.isFile())
  t.equal(st.size, 64 * KiB)
  t.equal(st.ino, ref.ino)
  t.equal(st.dev, ref.dev)

  await f.truncate(12345)
  t.equal((await f.stat()).size, 12345, 'truncate to an unaligned length')
  const rb = allocAligned(16 * KiB)
  t.equal((await f.read(rb, 0, rb.length, 0)).bytesRead, 12345, 'read after truncate is short')
  sameBytes(t, rb.subarray(0, 12345), b.subarray(0, 12345), 'kept bytes')

  await f.truncate(32 * KiB)
  t.equal((await f.stat()).size, 32 * KiB, 'truncate can extend')
  const ext = allocAligned(32 * KiB)
  t.equal((await f.read(ext, 0, ext.length, 0)).bytesRead, 32 * KiB)
  t.ok(ext.subarray(12345).every((x) => x === 0), 'extension reads as zeros')

  await f.truncate()
  t.equal((await f.stat()).size, 0, 'truncate() defaults to 0')
  t.equal((await f.read(rb, 0, 4096, 0)).bytesRead, 0)
  t.equal(fs.statSync(p).size, 0)
})

forEachBackend(t, 'await using / Symbol.asyncDispose closes the file', async (t, ctx) => {
  const dir = scratch(t)
  const p = path.join(dir, 'dispose.bin')
  let handle: DirectFileHandle | null = null
  let fd = -1
  {
    await using f = await open(p, 'w+', { context: ctx })
    handle = f
    fd = f.fd
    const b = allocAligned(BLOCK).fill(7)
    await f.write(b, 0, BLOCK, 0)
    t.ok(fs.fstatSync(fd).isFile(), 'fd open inside the block')
  }
  const h = handle as DirectFileHandle
  await t.rejects(h.read(allocAligned(BLOCK), 0, BLOCK, 0), { code: 'EBADF', syscall: 'read' }, 'handle is closed after the block')
  const ino = fs.statSync(p).ino
  let reused = false
  try {
    reused = fs.fstatSync(fd).ino === ino
  } catch (e) {
    t.equal((e as NodeJS.ErrnoException).code, 'EBADF', 'descriptor released')
  }
  t.notOk(reused, 'the descriptor no longer refers to the file')
  t.equal(typeof h[Symbol.asyncDispose], 'function')
  await h[Symbol.asyncDispose]()
  t.pass('disposing twice is harmless')
})

forEachBackend(
  t,
  'close() waits for in-flight requests',
  async (t, ctx) => {
    const dir = scratch(t)
    const SIZE = 4 * MiB
    const { path: p, data } = randomFile(dir, 'drain.bin', SIZE)
    const f = await open(p, 'r', { context: ctx })
    const order: string[] = []
    const reads = Array.from({ length: 64 }, (_, i) => {
      const pos = (i * 64 * KiB) % SIZE
      const b = allocAligned(64 * KiB)
      return f.read(b, 0, b.length, pos).then((res) => {
        order.push('read')
        return res.bytesRead === b.length && b.equals(data.subarray(pos, pos + b.length))
      })
    })
    const closing = f.close().then(() => order.push('close'))
    t.equal(f.close(), f.close(), 'close() is idempotent (same promise)')
    const oks = await Promise.all(reads)
    await closing
    t.ok(oks.every(Boolean), 'every read issued before close() completed with correct data')
    t.equal(order.indexOf('close'), 64, 'close resolved after all 64 reads')
    await t.rejects(f.read(allocAligned(BLOCK), 0, BLOCK, 0), { code: 'EBADF' }, 'reads after close fail with EBADF')
  },
  { maxInFlight: 16 },
)
