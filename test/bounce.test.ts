// Opt-in bounce copy (lib/api/bounce.ts): with { bounce: true } on open or
// per call, misaligned buffers, positions and lengths are copied through
// aligned memory; reads give exactly the bytes asked for, writes change
// exactly the bytes given (read-modify-write of partial blocks, the true
// length kept), stats().bytes.bounced counts the copies, and the default
// stays strict. Real files, every backend, checked against an in-memory model.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allocAligned, open } from '../lib/index'
import { forEachBackend, randomFile, rng, sameBytes, scratch } from './helpers/backends'

const SIZES = [0, 1, 511, 4095, 4097, 10_000]

forEachBackend(t, 'bounce: misaligned reads and writes, exact bytes, against a model', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  for (const size of SIZES) {
    const { path: p, data } = randomFile(dir, `f${size}`, size)
    let model = Buffer.from(data)
    const fh = await open(p, 'r+', { context: ctx, bounce: true })
    const before = ctx.stats().bytes.bounced
    let bounced = 0
    for (let i = 0; i < 24; i++) {
      const pos = r.int(size + 20)
      const len = r.int(6000) + 1
      // Ordinary, unaligned memory: Buffer.alloc, a view at an odd byteOffset.
      const buf = Buffer.alloc(len + 3).subarray(r.int(3) + 1, len + 1 + (i % 2))
      const n = Math.min(len, buf.length)
      if (i % 2 === 0) {
        const { bytesRead } = await fh.read(buf, 0, n, pos)
        const want = model.subarray(pos, pos + n)
        t.equal(bytesRead, want.length, `read ${n} at ${pos} of ${model.length}: ${want.length} bytes`)
        sameBytes(t, buf.subarray(0, bytesRead), want, `read ${n} at ${pos}: exact bytes`)
        bounced += bytesRead
      } else {
        r.fill(buf)
        const { bytesWritten } = await fh.write(buf, 0, n, pos)
        t.equal(bytesWritten, n, `write ${n} at ${pos}`)
        const grown = Math.max(model.length, pos + n)
        const next = Buffer.alloc(grown)
        model.copy(next)
        buf.copy(next, pos, 0, n)
        model = next
        bounced += n
      }
    }
    await fh.close()
    t.equal(fs.statSync(p).size, model.length, `size ${size}: the true length ${model.length}`)
    sameBytes(t, fs.readFileSync(p), model, `size ${size}: the file matches the model`)
    t.equal(ctx.stats().bytes.bounced - before, bounced, `stats().bytes.bounced counts the ${bounced} bytes copied`)
  }
})

forEachBackend(t, 'bounce: per call, position-less, vectored; the default stays strict', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'g', 10_000)
  const strict = await open(p, 'r+', { context: ctx })
  t.teardown(() => strict.close())
  if (strict.alignment.offset === 1) return t.skip('this filesystem needs no alignment')
  const odd = Buffer.alloc(100)
  await t.rejects(strict.read(odd, 0, 100, 3), { code: 'EINVAL', message: /O_DIRECT needs the/ }, 'default: misaligned read is EINVAL, as before')
  await t.rejects(strict.write(odd, 0, 100, 3), { code: 'EINVAL', message: /O_DIRECT needs the/ }, 'default: misaligned write is EINVAL, as before')
  const { bytesRead } = await strict.read(odd, { position: 3, bounce: true })
  t.equal(bytesRead, 100, 'per-call bounce: true')
  sameBytes(t, odd, data.subarray(3, 103), 'per-call bounce reads the exact bytes')
  const b = await open(p, 'r+', { context: ctx, bounce: true })
  t.teardown(() => b.close())
  await t.rejects(b.read(odd, { position: 3, bounce: false }), { code: 'EINVAL' }, 'per-call bounce: false overrides the handle default')
  // Position-less: the current position advances by what was copied.
  const a1 = Buffer.alloc(7)
  const a2 = Buffer.alloc(9)
  await b.read(a1)
  await b.read(a2)
  sameBytes(t, Buffer.concat([a1, a2]), data.subarray(0, 16), 'two position-less bounced reads continue where the first stopped')
  const v = [Buffer.alloc(5), Buffer.alloc(4096), Buffer.alloc(3)]
  const { bytesRead: vr } = await b.readv(v, 1)
  t.equal(vr, 4104, 'readv with bounce')
  sameBytes(t, Buffer.concat(v), data.subarray(1, 4105), 'readv scatters the exact bytes')
  await b.writev([Buffer.from('abc'), Buffer.from('defg')], 9_998)
  const want = Buffer.concat([data.subarray(0, 9_998), Buffer.from('abcdefg')])
  sameBytes(t, fs.readFileSync(p), want, 'writev with bounce past the end: exact bytes, true length')
  // Aligned calls on a bounce handle go straight to the kernel: nothing bounced.
  const before = ctx.stats().bytes.bounced
  await b.read(allocAligned(4096), { position: 4096 })
  t.equal(ctx.stats().bytes.bounced, before, 'an aligned call is not bounced')
})

forEachBackend(t, 'bounce: aborts and bad input change nothing', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'h', 5000)
  const fh = await open(p, 'r+', { context: ctx, bounce: true })
  t.teardown(() => fh.close())
  const ac = new AbortController()
  ac.abort()
  await t.rejects(fh.write(Buffer.from('zzz'), { position: 10, signal: ac.signal }), { name: 'AbortError', stage: 'queued' }, 'pre-aborted bounced write')
  await t.rejects(fh.read(Buffer.alloc(3), { position: 10, signal: ac.signal }), { name: 'AbortError', stage: 'queued' }, 'pre-aborted bounced read')
  await t.rejects(fh.write(Buffer.from('zzz'), { position: 10, bounce: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' }, 'bounce: "yes"')
  await t.rejects(open(p, 'r', { context: ctx, bounce: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' }, 'open bounce: 1')
  // Aborted at several moments: the file holds either the old or the new bytes of the range, nothing else.
  for (const delay of [0, 1]) {
    const c = new AbortController()
    const chunk = Buffer.alloc(3000, 0xee)
    const pending = fh.write(chunk, { position: 777, signal: c.signal })
    setTimeout(() => c.abort(), delay)
    const done = await pending.then(() => true, () => false)
    const now = fs.readFileSync(p)
    t.equal(now.length, 5000, `abort after ${delay} ms: size unchanged`)
    sameBytes(t, Buffer.concat([now.subarray(0, 777), now.subarray(3777)]), Buffer.concat([data.subarray(0, 777), data.subarray(3777)]), `abort after ${delay} ms (${done ? 'completed' : 'aborted'}): bytes outside the range untouched`)
  }
  fs.writeFileSync(p, data)
  sameBytes(t, fs.readFileSync(p), data, 'restored')
  t.ok(path.isAbsolute(p))
})
