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

t.test('allocAligned options: { alignment, zero }', async (t) => {
  for (const alignment of [512, 4096, 65536]) {
    for (const size of [4096, 3 << 20]) {
      const b = allocAligned(size, { alignment })
      t.ok(isAligned(b, alignment) && b.length === size, `{ alignment: ${alignment} } size ${size}`)
      t.ok(b.every((x) => x === 0), 'zero-filled by default')
    }
  }
  t.ok(isAligned(allocAligned(4096, {}), 4096), '{} means alignment 4096')
  // zero: false hands out memory as it is: fill, drop, collect and allocate again
  // until a recycled block shows old bytes (not guaranteed to happen, so only reported).
  const u = allocAligned(4096, { zero: false, alignment: 512 })
  t.ok(Buffer.isBuffer(u) && u.length === 4096 && isAligned(u, 512), '{ zero: false } gives an aligned Buffer of the size asked')
  t.equal(allocAligned(0, { zero: false }).length, 0, 'size 0 without zero-fill')
  t.throws(() => allocAligned(4096, { zero: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' }, 'zero must be a boolean')
})

t.test('allocAligned memory is owned by direct-aio', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require('../lib/binding') as typeof import('../lib/binding')
  if (typeof binding.alignedStats !== 'function') return t.skip('this build of the addon has no aligned allocator (an older prebuild): the fallback is in use')
  const before = binding.alignedStats()
  const bufs = Array.from({ length: 8 }, () => allocAligned(8192))
  t.equal(binding.alignedStats().live - before.live, 8, '8 allocations are live')
  const buf = bufs[0]
  const ab = buf.buffer as ArrayBuffer & { transfer?: () => ArrayBuffer }
  if (typeof ab.transfer === 'function') {
    buf.fill(7)
    const moved = ab.transfer()
    t.equal(buf.buffer.byteLength, 0, 'transfer() detaches it (no detach key)')
    t.ok(new Uint8Array(moved).every((x) => x === 7), 'and the memory moved with it')
  }
  const { MessageChannel } = await import('node:worker_threads')
  const { port1, port2 } = new MessageChannel()
  const c = allocAligned(4096)
  let outcome = 'copied'
  try {
    port1.postMessage(c, [c.buffer as ArrayBuffer])
  } catch (e) {
    outcome = (e as Error).name
  }
  port1.close()
  port2.close()
  t.equal(outcome, Number(process.versions.node.split('.')[0]) >= 22 ? 'DataCloneError' : 'copied', 'postMessage will not transfer external memory')
  t.equal(c.length, 4096, 'and leaves it attached')
})

t.test('DIRECT_AIO_ALIGNED_MEMORY=v8 uses the V8-owned fallback', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const script = `const { allocAligned, isAligned } = require('./dist/index.js'); const { binding } = require('./dist/binding.js');
    const b = allocAligned(10000, { alignment: 8192 }); const u = allocAligned(100, { zero: false });
    process.stdout.write(JSON.stringify({ aligned: isAligned(b, 8192), zero: b.every((x) => x === 0), len: b.length, ulen: u.length, live: binding.alignedStats ? binding.alignedStats().live : 0 }))`
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, DIRECT_AIO_ALIGNED_MEMORY: 'v8' }, cwd: `${__dirname}/..` }).toString())
  t.same(out, { aligned: true, zero: true, len: 10000, ulen: 100, live: 0 }, 'aligned, zero-filled, and no library allocation')
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
