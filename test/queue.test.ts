// The userspace queue: far more requests than the ring has entries all
// complete correctly without exceeding the ring, and IoContext.close() drains
// what is queued and in flight.
import t from 'tap'
import { IoContext, allocAligned, open } from '../lib/index'
import { forEachBackend, randomFile, scratch } from './helpers/backends'

const BLOCK = 4096

forEachBackend(
  t,
  '10,000 reads on a ring of 8 entries',
  async (t, ctx, backend) => {
    const dir = scratch(t)
    const FILE_BLOCKS = 4096 // 16 MiB
    const N = 10_000
    const { path: p, data } = randomFile(dir, 'q.bin', FILE_BLOCKS * BLOCK)
    const f = await open(p, 'r', { context: ctx })
    t.teardown(() => f.close())
    const slab = allocAligned(N * BLOCK)
    let bad = 0
    let short = 0
    let maxSeen = 0
    let done = 0
    const reads: Array<Promise<void>> = []
    for (let i = 0; i < N; i++) {
      // Every block at least twice, in a scattered order.
      const block = (i * 2654435761) % FILE_BLOCKS
      const pos = block * BLOCK
      const buf = slab.subarray(i * BLOCK, (i + 1) * BLOCK)
      reads.push(
        f.read(buf, 0, BLOCK, pos).then((r) => {
          if (r.bytesRead !== BLOCK) short++
          else if (!r.buffer.equals(data.subarray(pos, pos + BLOCK))) bad++
          if (++done % 500 === 0) maxSeen = Math.max(maxSeen, ctx.stats().depth.current)
        }),
      )
    }
    const early = ctx.stats()
    t.equal(early.queued + early.depth.current, N, 'all 10,000 are queued or in the kernel')
    t.ok(early.depth.current <= 8, `at most 8 in the kernel right after queuing (${early.depth.current})`)
    await Promise.all(reads)
    t.equal(short, 0, 'every read returned 4096 bytes')
    t.equal(bad, 0, 'every read returned the right block')
    const s = ctx.stats()
    t.equal(s.requests.submitted, N)
    t.equal(s.requests.completed, N, 'all completed')
    t.equal(s.requests.failed, 0)
    t.equal(s.bytes.read, N * BLOCK)
    t.equal(s.queued, 0, 'queue empty')
    t.equal(s.depth.current, 0, 'nothing in the kernel')
    t.ok(s.depth.peak <= 8, `stats().depth.peak ${s.depth.peak} <= 8`)
    t.ok(s.depth.peak >= 1)
    t.ok(maxSeen <= 8, `sampled depth never above 8 (max ${maxSeen})`)
    if (backend !== 'threadpool') t.equal(s.native.liveOps, 0, 'no native operations left')
  },
  { entries: 8 },
)

forEachBackend(
  t,
  'maxInFlight bounds the kernel depth below the ring size',
  async (t, ctx) => {
    const dir = scratch(t)
    const { path: p, data } = randomFile(dir, 'm.bin', 1024 * BLOCK)
    const f = await open(p, 'r', { context: ctx })
    t.teardown(() => f.close())
    const res = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => {
        const pos = ((i * 7919) % 1024) * BLOCK
        return f.read(allocAligned(BLOCK), 0, BLOCK, pos).then((r) => r.buffer.equals(data.subarray(pos, pos + BLOCK)))
      }),
    )
    t.ok(res.every(Boolean), '1000 reads correct')
    const s = ctx.stats()
    t.ok(s.depth.peak <= 3, `peak depth ${s.depth.peak} <= maxInFlight 3`)
  },
  { maxInFlight: 3 },
)

forEachBackend(t, 'IoContext.close() waits for queued and in-flight requests', async (t, _ctx, backend) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'c.bin', 512 * BLOCK)
  const ctx = new IoContext({ backend, entries: 8 })
  const f = await open(p, 'r', { context: ctx })
  t.teardown(() => f.close())
  const order: string[] = []
  const reads = Array.from({ length: 300 }, (_, i) => {
    const pos = ((i * 31) % 512) * BLOCK
    return f.read(allocAligned(BLOCK), 0, BLOCK, pos).then((r) => {
      order.push('read')
      return r.bytesRead === BLOCK && r.buffer.equals(data.subarray(pos, pos + BLOCK))
    })
  })
  const closing = ctx.close().then(() => order.push('close'))
  await t.rejects(f.read(allocAligned(BLOCK), 0, BLOCK, 0), { code: 'ERR_DIRECT_AIO_CONTEXT_CLOSED' }, 'new requests are refused while closing')
  const ok = await Promise.all(reads)
  await closing
  t.ok(ok.every(Boolean), 'all 300 requests queued before close() completed correctly')
  t.equal(order.indexOf('close'), 300, 'close() resolved after every request')
  const s = ctx.stats()
  t.equal(s.requests.completed, 300)
  t.equal(s.queued, 0)
  t.equal(s.depth.current, 0)
})
