// 1 GiB + 1 on every backend (issue 13): readFile (handle and path forms),
// readAt across the 1 GiB boundary and at the last byte, read streams over the
// tail and over the whole file, write streams ending at 1 GiB + 1, append onto
// a 1 GiB file, and writeFile(fh) of 1 GiB + 1.
//
// To stay cheap, most cases share ONE sparse 1 GiB + 1 file: zeros (a hole)
// except a few seeded random tiles, one of them ending at the last byte. Its
// content is known at every position (tile bytes or 0), so any read of any
// range is checked byte-for-byte by memcmp against the tiles and a zero
// buffer, without a second 1 GiB copy in memory. The two cases that write
// 1 GiB + 1 for real (a write stream, writeFile(fh)) run on one backend only
// and use a repeating odd-length pattern that is checked by position.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { IoContext, open, readFile } from '../lib/index'
import type { Test } from 'tap'
import { availableBackends, forEachBackend, rng, scratch } from './helpers/backends'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const SIZE = GiB + 1

const root = t as unknown as Test
const dir = scratch(root)
const stat = fs.statfsSync(dir)
const avail = stat.bavail * stat.bsize
const skip = avail < 3 * GiB ? `needs 3 GiB free in ${dir}, has ${avail} bytes` : false

// The shared file's tiles: [at, at + data.length), sorted, not overlapping,
// at unaligned offsets; the last one ends at the last byte (offset 1 GiB).
const r = rng(root)
const TILES: Array<{ at: number; data: Buffer }> = [
  [0, 4096 + 3],
  [512 * MiB - 3, MiB + 7],
  [GiB - 4 * MiB - 1000, 2 * MiB + 333],
  [GiB - MiB - 77, MiB + 77 + 1],
].map(([at, len]) => {
  const data = Buffer.alloc(len)
  r.fill(data)
  return { at, data }
})
const ZERO = Buffer.alloc(16 * MiB)

/** The first offset (file offset) where `buf`, read from file offset `at`, differs from the shared file; -1 if none. */
function firstDiff(buf: Buffer, at: number): number {
  const end = at + buf.length
  const zeros = (from: number, to: number): number => {
    for (let p = from; p < to; p += ZERO.length) {
      const n = Math.min(ZERO.length, to - p)
      const seg = buf.subarray(p - at, p - at + n)
      if (!seg.equals(ZERO.subarray(0, n))) return p + seg.findIndex((b) => b !== 0)
    }
    return -1
  }
  let pos = at
  for (const { at: ta, data } of TILES) {
    const te = ta + data.length
    if (te <= pos) continue
    if (ta >= end) break
    if (ta > pos) {
      const d = zeros(pos, ta)
      if (d >= 0) return d
      pos = ta
    }
    const e = Math.min(te, end)
    const got = buf.subarray(pos - at, e - at)
    const want = data.subarray(pos - ta, e - ta)
    if (!got.equals(want)) return pos + got.findIndex((b, i) => b !== want[i])
    pos = e
  }
  return pos < end ? zeros(pos, end) : -1
}

function exact(t: Test, buf: Buffer, at: number, length: number, msg: string): void {
  t.equal(buf.length, length, `${msg}: length ${length}`)
  const d = firstDiff(buf.subarray(0, Math.min(buf.length, SIZE - at)), at)
  if (d < 0) t.pass(`${msg}: exact bytes`)
  else t.fail(`${msg}: exact bytes`, { firstDifference: d })
}

// The shared sparse file, created once with buffered fs (truncate, then the tiles).
const shared = path.join(dir, 'shared-1GiB+1')
if (!skip) {
  const fd = fs.openSync(shared, 'w')
  fs.ftruncateSync(fd, SIZE)
  for (const { at, data } of TILES) fs.writeSync(fd, data, 0, data.length, at)
  fs.fsyncSync(fd)
  fs.closeSync(fd)
}

function ms(t0: number): string {
  return `${Date.now() - t0} ms`
}

if (skip) {
  root.test('1 GiB + 1 on every backend', { skip }, () => {})
} else {
  root.equal(fs.statSync(shared).size, SIZE, 'shared file is 1 GiB + 1')

  forEachBackend(root, '1 GiB + 1: fh.readFile() and readFile(path, { context })', async (t, ctx, backend) => {
    const fh = await open(shared, 'r', { context: ctx })
    let t0 = Date.now()
    let got: Buffer | null = await fh.readFile()
    t.comment(`fh.readFile on ${backend}: ${ms(t0)}`)
    exact(t, got, 0, SIZE, 'fh.readFile()')
    got = null
    await fh.close()
    t0 = Date.now()
    got = await readFile(shared, { context: ctx })
    t.comment(`readFile(path) on ${backend}: ${ms(t0)}`)
    exact(t, got, 0, SIZE, 'readFile(path, { context })')
    got = null
  })

  forEachBackend(root, '1 GiB + 1: fh.readAt across the 1 GiB boundary and at the last byte', async (t, ctx) => {
    const fh = await open(shared, 'r', { context: ctx })
    t.teardown(() => fh.close())
    const cases: Array<[number, number, number]> = [
      // [position, length, expected length (clipped at EOF)]
      [GiB - 10, 100, 11],
      [GiB - 4096 - 5, 4096 + 6, 4096 + 6],
      [GiB - 3 * MiB - 1, 3 * MiB + 2, 3 * MiB + 2],
      [GiB - 2 * MiB - 3, 3 * MiB, 2 * MiB + 4],
      [GiB, 1, 1],
      [GiB, 4096, 1],
      [GiB - 1, 2, 2],
      [SIZE, 1, 0],
      [SIZE + 4095, 10, 0],
      [512 * MiB - 5, 10, 10],
      [1, SIZE + 100, SIZE - 1],
    ]
    for (const [pos, len, want] of cases) {
      const got = await fh.readAt(pos, len)
      exact(t, got, pos, want, `readAt(${pos}, ${len})`)
    }
    const last = await fh.readAt(GiB, 1)
    t.equal(last[0], TILES[TILES.length - 1].data.at(-1), 'the last byte is the last tile\'s last byte')
  })

  forEachBackend(root, '1 GiB + 1: createReadStream over the last MiBs, across the 1 GiB boundary', async (t, ctx) => {
    const fh = await open(shared, 'r', { context: ctx })
    t.teardown(() => fh.close())
    for (const [start, end, hwm] of [
      [GiB - 5 * MiB - 7, GiB, 64 * 1024],
      [GiB - 3 * MiB + 1, GiB + 100, 1024 * 1024 + 512],
      [GiB, GiB, 4096],
    ]) {
      const chunks: Buffer[] = []
      for await (const c of fh.createReadStream({ start, end, highWaterMark: hwm, readAhead: 4 })) chunks.push(c as Buffer)
      const want = Math.min(end, GiB) - start + 1
      exact(t, Buffer.concat(chunks), start, want, `createReadStream({ start: ${start}, end: ${end}, highWaterMark: ${hwm} })`)
    }
  })

  root.test('1 GiB + 1: one full-file read stream (first backend)', async (t) => {
    const backend = availableBackends()[0]
    const ctx = new IoContext({ backend })
    t.teardown(() => ctx.close())
    const fh = await open(shared, 'r', { context: ctx })
    t.teardown(() => fh.close())
    const t0 = Date.now()
    let offset = 0
    let bad = -1
    let chunks = 0
    // 'data' events, not for-await: the async iterator's read() would concatenate buffered chunks
    const rs = fh.createReadStream({ highWaterMark: 4 * MiB, readAhead: 4 })
    rs.on('data', (b: Buffer) => {
      if (bad < 0) bad = firstDiff(b, offset)
      offset += b.length
      chunks++
    })
    await finished(rs)
    t.comment(`full-file stream on ${backend}: ${ms(t0)}, ${chunks} chunks`)
    t.equal(offset, SIZE, 'the stream delivers 1 GiB + 1 bytes')
    t.equal(bad, -1, 'every chunk has the exact bytes at its position')
  })

  // A write stream ending exactly at 1 GiB + 1 with an unaligned start near
  // 1 GiB, on every backend: the bytes before `start` in its first block are kept.
  forEachBackend(root, '1 GiB + 1: createWriteStream({ start }) near 1 GiB ends the file at 1 GiB + 1', async (t, ctx) => {
    const d = scratch(t)
    const p = path.join(d, 'ws-tail')
    const head = Buffer.alloc(4096)
    r.fill(head)
    const start = GiB - 3 * MiB - 5
    const fd = fs.openSync(p, 'w')
    fs.ftruncateSync(fd, GiB - 3 * MiB)
    fs.writeSync(fd, head, 0, head.length, GiB - 3 * MiB - head.length) // the block holding `start`
    fs.closeSync(fd)
    const data = Buffer.alloc(SIZE - start)
    r.fill(data)
    const fh = await open(p, 'r+', { context: ctx })
    const ws = fh.createWriteStream({ start, highWaterMark: 256 * 1024, writeBehind: 4 })
    const pieces: Buffer[] = []
    for (let o = 0; o < data.length; o += 100_003) pieces.push(data.subarray(o, o + 100_003))
    await pipeline(Readable.from(pieces), ws)
    await fh.close()
    t.equal(fs.statSync(p).size, SIZE, 'size 1 GiB + 1')
    const back = Buffer.alloc(head.length + data.length - 5)
    const rfd = fs.openSync(p, 'r')
    fs.readSync(rfd, back, 0, back.length, GiB - 3 * MiB - head.length)
    fs.closeSync(rfd)
    t.ok(back.subarray(0, head.length - 5).equals(head.subarray(0, head.length - 5)), 'bytes before start in its block kept')
    t.ok(back.subarray(head.length - 5).equals(data), 'written bytes exact up to the last byte')
  })

  root.test('1 GiB + 1: a write stream of 1 GiB + 1 bytes from 0, then writeFile(fh) of 1 GiB + 1 (first backend)', async (t) => {
    const backend = availableBackends()[0]
    const ctx = new IoContext({ backend })
    t.teardown(() => ctx.close())
    const d = scratch(t)
    // byte at offset o is PAT[o % PAT.length]; PAT's length is odd, so no block lines up with it
    const PAT = Buffer.alloc(MiB + 7)
    r.fill(PAT)
    const samples = [0, 4093, MiB + 3, 256 * MiB + 11, 512 * MiB - 3, GiB - MiB - 1, GiB - 70_000, GiB - 4096 - 9]
    const check = (p: string, shift: number, what: string) => {
      t.equal(fs.statSync(p).size, SIZE, `${what}: size 1 GiB + 1`)
      const fd = fs.openSync(p, 'r')
      let bad = -1
      const w = Buffer.alloc(70_001)
      for (const at of samples) {
        const n = fs.readSync(fd, w, 0, w.length, at)
        for (let i = 0; i < n && bad < 0; i++) if (w[i] !== PAT[(at + i + shift) % PAT.length]) bad = at + i
      }
      const last = Buffer.alloc(1)
      fs.readSync(fd, last, 0, 1, GiB)
      fs.closeSync(fd)
      t.equal(bad, -1, `${what}: pattern exact at ${samples.length} sampled windows`)
      t.equal(last[0], PAT[(GiB + shift) % PAT.length], `${what}: last byte`)
    }

    const p = path.join(d, 'ws-full')
    const fh = await open(p, 'w+', { context: ctx })
    const ws = fh.createWriteStream({ highWaterMark: 4 * MiB, writeBehind: 4 })
    async function* source() {
      let left = SIZE
      while (left > 0) {
        const n = Math.min(left, PAT.length)
        yield PAT.subarray(0, n)
        left -= n
      }
    }
    let t0 = Date.now()
    await pipeline(Readable.from(source()), ws)
    t.comment(`write stream 1 GiB + 1 on ${backend}: ${ms(t0)}`)
    t.equal(ws.bytesWritten, SIZE, 'bytesWritten is 1 GiB + 1')
    check(p, 0, 'write stream')

    // writeFile(fh) over the same file with the pattern shifted by 1 (so old bytes would show)
    const big = Buffer.allocUnsafe(SIZE).fill(Buffer.concat([PAT.subarray(1), PAT.subarray(0, 1)]))
    t0 = Date.now()
    await fh.writeFile(big)
    t.comment(`fh.writeFile 1 GiB + 1 on ${backend}: ${ms(t0)}`)
    await fh.close()
    check(p, 1, 'fh.writeFile')
    fs.rmSync(p)
  })

  forEachBackend(root, "1 GiB + 1: open(p, 'a') appends one byte onto a 1 GiB file", async (t, ctx) => {
    const d = scratch(t)
    const p = path.join(d, 'append')
    const tail = Buffer.alloc(4096)
    r.fill(tail)
    const fd = fs.openSync(p, 'w')
    fs.ftruncateSync(fd, GiB - tail.length)
    fs.writeSync(fd, tail, 0, tail.length, GiB - tail.length)
    fs.closeSync(fd)
    t.equal(fs.statSync(p).size, GiB, 'starts at exactly 1 GiB')
    const fh = await open(p, 'a', { context: ctx })
    await fh.write(Buffer.from([0xa5]))
    await fh.close()
    t.equal(fs.statSync(p).size, SIZE, 'size 1 GiB + 1')
    const back = Buffer.alloc(tail.length + 2)
    const rfd = fs.openSync(p, 'r')
    const n = fs.readSync(rfd, back, 0, back.length, GiB - tail.length)
    fs.closeSync(rfd)
    t.equal(n, tail.length + 1, 'one byte past 1 GiB')
    t.ok(back.subarray(0, tail.length).equals(tail), 'the last 4 KiB before it are untouched')
    t.equal(back[tail.length], 0xa5, 'the last byte is the appended one')
  })
}
