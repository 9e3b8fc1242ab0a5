// allocAligned / isAligned / alignUp / alignDown, and detection of ordinary
// (misaligned) Node buffers before they reach an O_DIRECT read.
import t from 'tap'
import { allocAligned, alignDown, alignUp, isAligned, open } from '../lib/index'
import { forEachBackend, randomFile, scratch } from './helpers/backends'

t.test('allocAligned: alignment and contents', async (t) => {
  for (const alignment of [undefined, 1, 2, 512, 4096, 8192, 65536]) {
    for (const size of [0, 1, 511, 4096, 4097, 1 << 20]) {
      const b = alignment === undefined ? allocAligned(size) : allocAligned(size, alignment)
      const a = alignment ?? 4096
      t.ok(Buffer.isBuffer(b), 'a Buffer')
      t.equal(b.length, size, `size ${size}`)
      if (size > 0) t.ok(isAligned(b, a), `size ${size} aligned to ${a}`)
      if (size > 0 && !b.every((x) => x === 0)) t.fail(`size ${size}/${a}: not zero-filled`)
    }
  }
  t.ok(isAligned(allocAligned(4096)), 'isAligned default alignment is 4096')
  // Many allocations in a row: none shares memory with another, all aligned.
  const many = Array.from({ length: 256 }, () => allocAligned(4096))
  t.ok(many.every((b) => isAligned(b, 4096)), '256 allocations all aligned')
  many.forEach((b, i) => b.fill(i & 0xff))
  t.ok(many.every((b, i) => b.every((x) => x === (i & 0xff))), 'allocations do not overlap')
})

t.test('allocAligned: argument validation', async (t) => {
  const range: Array<[string, () => unknown]> = [
    ['size -1', () => allocAligned(-1)],
    ['size 1.5', () => allocAligned(1.5)],
    ['size NaN', () => allocAligned(NaN)],
    ['size Infinity', () => allocAligned(Infinity)],
    ['size 2^53', () => allocAligned(2 ** 53)],
    ['alignment 0', () => allocAligned(4096, 0)],
    ['alignment 3', () => allocAligned(4096, 3)],
    ['alignment 4095', () => allocAligned(4096, 4095)],
    ['alignment -4096', () => allocAligned(4096, -4096)],
    ['alignment 131072', () => allocAligned(4096, 131072)],
    ['alignment 512.5', () => allocAligned(4096, 512.5)],
  ]
  for (const [what, fn] of range) t.throws(fn, { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }, what)
  const type: Array<[string, () => unknown]> = [
    ['size string', () => (allocAligned as (s: unknown) => Buffer)('4096')],
    ['size undefined', () => (allocAligned as (s?: unknown) => Buffer)()],
    ['size bigint', () => (allocAligned as (s: unknown) => Buffer)(4096n)],
    ['alignment string', () => (allocAligned as (s: number, a: unknown) => Buffer)(4096, '4096')],
  ]
  for (const [what, fn] of type) t.throws(fn, { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' }, what)
})

t.test('isAligned, alignUp, alignDown', async (t) => {
  const b = allocAligned(8192, 4096)
  t.ok(isAligned(b, 4096))
  t.ok(isAligned(b.subarray(512), 512), 'subarray(512) is 512-aligned')
  t.notOk(isAligned(b.subarray(512), 4096), 'but not 4096-aligned')
  t.notOk(isAligned(b.subarray(16), 512), 'subarray(16) is not 512-aligned')
  t.ok(isAligned(b.subarray(16), 16), 'subarray(16) is 16-aligned')
  t.notOk(isAligned(b.subarray(1), 2))
  t.ok(isAligned(new Uint32Array(b.buffer, b.byteOffset + 4096, 4), 4096), 'typed-array views are measured by their own offset')
  t.ok(isAligned(new DataView(b.buffer, b.byteOffset, 16)), 'DataView')

  const cases: Array<[number, number, number, number]> = [
    // n, alignment, up, down
    [0, 4096, 0, 0],
    [1, 4096, 4096, 0],
    [4095, 4096, 4096, 0],
    [4096, 4096, 4096, 4096],
    [4097, 4096, 8192, 4096],
    [1000, 512, 1024, 512],
    [1024, 512, 1024, 1024],
    [2 ** 40 + 1, 4096, 2 ** 40 + 4096, 2 ** 40],
  ]
  for (const [n, a, up, down] of cases) {
    t.equal(alignUp(n, a), up, `alignUp(${n}, ${a})`)
    t.equal(alignDown(n, a), down, `alignDown(${n}, ${a})`)
  }
  t.equal(alignUp(5000), 8192, 'alignUp default 4096')
  t.equal(alignDown(5000), 4096, 'alignDown default 4096')
})

forEachBackend(t, 'ordinary Node buffers are checked before an O_DIRECT read', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'slow.bin', 64 * 1024)
  const f = await open(p, 'r', { context: ctx })
  t.teardown(() => f.close())
  const { memory } = f.alignment
  if (memory < 2) {
    t.pass('skipped', { skip: `no memory alignment needed here (dio_mem_align=${memory})` })
    return
  }
  let slow: Buffer = Buffer.allocUnsafeSlow(4096 + 16)
  if (isAligned(slow, memory)) {
    t.comment(`Buffer.allocUnsafeSlow happened to be ${memory}-aligned; using subarray(16)`)
    slow = slow.subarray(16)
  }
  t.notOk(isAligned(slow, memory), `the buffer is not ${memory}-aligned (isAligned detects it)`)
  const before = ctx.stats().requests.submitted
  await t.rejects(
    f.read(slow, 0, 4096, 0),
    { code: 'EINVAL', syscall: 'read', path: p, message: new RegExp(`multiple of ${memory}.*allocAligned`) },
    'read into it is refused with EINVAL naming the alignment and allocAligned()',
  )
  t.equal(ctx.stats().requests.submitted, before, 'refused before submission')

  // Buffer.allocUnsafe comes from the shared pool: whatever its address, the check agrees with isAligned.
  const pooled = Buffer.allocUnsafe(4096)
  const res = f.read(pooled, 0, 4096, 0)
  if (isAligned(pooled, memory)) {
    t.equal((await res).bytesRead, 4096, 'pooled buffer happened to be aligned: read works')
    t.ok(pooled.equals(data.subarray(0, 4096)))
  } else {
    await t.rejects(res, { code: 'EINVAL' }, 'pooled misaligned buffer refused')
  }

  // The fix the message suggests works.
  const good = allocAligned(4096, memory)
  t.equal((await f.read(good, 0, 4096, 0)).bytesRead, 4096)
  t.ok(good.equals(data.subarray(0, 4096)), 'allocAligned buffer reads correctly')
  // A suitably aligned subarray of an allocAligned buffer is fine too.
  const big = allocAligned(3 * 4096)
  const sub = big.subarray(4096, 8192)
  t.ok(isAligned(sub, memory))
  t.equal((await f.read(sub, 0, 4096, 4096)).bytesRead, 4096)
  t.ok(sub.equals(data.subarray(4096, 8192)), 'aligned subarray reads correctly')
  t.ok(big.subarray(0, 4096).every((x) => x === 0) && big.subarray(8192).every((x) => x === 0), 'only the subarray was written')
})
