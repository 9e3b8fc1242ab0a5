// lib/sched/depth.ts: the adaptive controller on synthetic completions, and
// chooseDepth() for each backend's traits.
import t from 'tap'
import { findBackend } from '../../lib/backends/registry'
import { chooseDepth, DepthController } from '../../lib/sched/depth'

/** Feed `n` completions spread over `ms`, all with requests waiting, at `latency` ms each. */
function feed(c: DepthController, start: number, n: number, ms: number, latency: number): number {
  for (let i = 1; i <= n; i++) c.onComplete(start + (i * ms) / n, true, latency)
  return start + ms
}

t.test('depth grows freely on a fast device', async (t) => {
  const c = new DepthController(4, 256)
  let now = 1000
  for (let w = 0; w < 20; w++) now = feed(c, now, 64, 60, 0.5)
  t.ok(c.depth > 4, `grew from 4 to ${c.depth}`)
})

t.test('depth does not grow on a slow device without a throughput gain', async (t) => {
  const c = new DepthController(4, 256)
  let now = 1000
  // A congested device: 40 ms per request, and the same throughput whatever the depth.
  for (let w = 0; w < 40; w++) now = feed(c, now, 40, 100, 40)
  t.ok(c.depth <= 8, `stays small: ${c.depth}`)
})

t.test('unsaturated windows change nothing', async (t) => {
  const c = new DepthController(4, 256)
  let now = 1000
  for (let w = 0; w < 20; w++) {
    for (let i = 1; i <= 64; i++) c.onComplete(now + i, false, 0.5)
    now += 64
  }
  t.equal(c.depth, 4)
})

t.test('the start and the limit are clamped', async (t) => {
  t.equal(new DepthController(10, 3).depth, 3)
  t.equal(new DepthController(0, 0).depth, 1)
})

t.test('chooseDepth per backend traits', async (t) => {
  const uring = findBackend('io_uring')!
  const aio = findBackend('libaio')!
  const pool = findBackend('threadpool')!
  t.same(chooseDepth(256, uring, 64, 'auto', 'auto').limit, 64, 'io_uring: up to nr_requests')
  t.ok(chooseDepth(256, uring, 64, 'auto', 'auto').controller, 'io_uring: adaptive')
  t.equal(chooseDepth(256, uring, 64, 'auto', 'trust').controller, null, "kernelCancel 'trust': fixed")
  t.equal(chooseDepth(256, uring, 64, 200, 'auto').limit, 200, 'io_uring: an explicit depth is honoured up to the ring size')
  t.equal(chooseDepth(256, aio, 64, 'auto', 'auto').limit, 32, 'libaio: half of nr_requests')
  t.equal(chooseDepth(256, aio, 64, 200, 'auto').limit, 32, 'libaio: even for an explicit depth')
  t.equal(chooseDepth(256, aio, 1, 'auto', 'auto').limit, 1, 'libaio: at least 1')
  t.equal(chooseDepth(256, aio, null, 'auto', 'auto').limit, 256, 'no sysfs: the ring size')
  t.same(chooseDepth(4, pool, 64, 'auto', 'auto'), { limit: 4, controller: null }, 'threadpool: fixed at the pool size')
})
