// Scheduling on a congested device (issue 3): per-device queues (no
// head-of-line blocking across devices), priorities, the adaptive in-kernel
// depth, and the kernelCancel policies. Root only: the I/O runs in a child
// inside a blkio cgroup that throttles a loop device to 50 IOPS.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { scratchDir } from './helpers/tmp'
import { congestSkip, expectedStages, makeDevice, probeBackends, runInCgroup, tally } from './helpers/congest'

const MiB = 1024 * 1024

t.test('scheduling on a congested device (50 IOPS)', { skip: congestSkip() }, async (t) => {
  const { available, refused } = await probeBackends()
  for (const [b, why] of Object.entries(refused)) t.comment(`backend ${b} not available here: ${why}`)
  const dev = makeDevice(t, { sizeMiB: 256, readIops: 50, writeIops: 50 })
  const nrRequests = Number(fs.readFileSync(`/sys/block/${dev.name}/queue/nr_requests`, 'utf8'))
  t.comment(`${dev.loop} (nr_requests ${nrRequests}) throttled to 50 IOPS in ${dev.cgroup}`)

  const dir = scratchDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const fastPath = path.join(dir, 'fast.bin')
  const FAST_SIZE = 16 * MiB
  fs.writeFileSync(fastPath, Buffer.alloc(FAST_SIZE, 7))

  for (const backend of available) {
    t.test(`${backend}: a saturated device does not delay another device in the same context`, async (t) => {
      const r = await runInCgroup(dev, {
        mode: 'headOfLine',
        backend,
        kernelCancel: 'auto',
        path: dev.loop,
        deviceSize: dev.sizeBytes,
        n: 400,
        fastPath,
        fastSize: FAST_SIZE,
        fastN: 200,
      })
      t.comment(`${backend}: 200 reads on the root fs took ${r.aloneMs.toFixed(1)} ms alone, ${r.contendedMs.toFixed(1)} ms with 400 reads queued on the loop device (${r.slowDoneAfter} of those done, ${r.queuedAfter} still queued)`)
      t.ok(r.contendedMs < 2000, `200 root reads finished in ${r.contendedMs.toFixed(0)} ms (< 2 s) during the backlog`)
      t.ok(r.slowDoneAfter < 200, 'the loop backlog was still pending when they finished')
      t.ok(r.queuedAfter > 100, 'requests were still queued for the loop device')
      t.equal(r.stats.requests.completed + r.stats.requests.cancelledQueued + r.stats.requests.cancelledTooLate + r.stats.requests.cancelledKernel, 800)
    })

    t.test(`${backend}: high-priority requests overtake a low-priority backlog`, async (t) => {
      const r = await runInCgroup(dev, { mode: 'priorities', backend, kernelCancel: 'auto', path: dev.loop, deviceSize: dev.sizeBytes, lowN: 300, highN: 20, highAfterMs: 100 })
      const order: string = r.order
      const lastHigh = order.lastIndexOf('H')
      const lowBeforeLastHigh = order.slice(0, lastHigh).split('').filter((c) => c === 'L').length
      const lowAfterHighQueued = lowBeforeLastHigh - r.lowDoneBeforeHigh
      t.comment(`${backend}: completion order ${order.slice(0, 60)}${order.length > 60 ? '...' : ''}; ${r.lowDoneBeforeHigh} low done before the high ones were queued, ${lowAfterHighQueued} more before the last high`)
      t.equal(order.split('').filter((c) => c === 'H').length, 20, 'all high-priority reads completed')
      // Only what was already in the kernel when they were queued may finish first.
      t.ok(lowAfterHighQueued <= 8, `at most the in-kernel low-priority reads finished in between (${lowAfterHighQueued})`)
      t.ok(lowBeforeLastHigh < 300 / 2, 'the high-priority reads finished before most low-priority ones')
    })

    t.test(`${backend}: 'auto' keeps the in-kernel depth <= 8 during a 400-read backlog`, async (t) => {
      const r = await runInCgroup(dev, { mode: 'backlog', backend, maxInFlight: 'auto', kernelCancel: 'auto', path: dev.loop, deviceSize: dev.sizeBytes, n: 400, holdMs: 3000 })
      const peak = r.statsBefore.depth.peak
      t.comment(`${backend}: depth samples every 50 ms: ${r.samples.join(' ')}; peak ${peak}; limit ${JSON.stringify(r.statsBefore.depth.limits)}`)
      t.ok(peak >= 1 && peak <= 8, `peak depth ${peak} <= 8`)
      t.ok(Math.max(...r.samples) <= 8)
    })
  }

  for (const backend of available.filter((b) => b !== 'threadpool')) {
    t.test(`${backend}: kernelCancel 'never' sends no kernel cancels`, async (t) => {
      const r = await runInCgroup(dev, { mode: 'massAbort', backend, kernelCancel: 'never', maxInFlight: 32, n: 100, op: 'read', path: dev.loop, deviceSize: dev.sizeBytes, abortAfterMs: 200, lateStatsMs: 200 })
      const counts = tally(r.results)
      t.comment(`${backend} never: ${JSON.stringify(counts)}, cancels ${JSON.stringify(r.statsLate.kernelCancels)}`)
      t.ok(r.issuedBeforeAbort > counts.ok, 'requests were in the kernel at the abort')
      t.equal(r.statsLate.kernelCancels.sent, 0, 'kernelCancels.sent === 0')
      t.equal(counts.kernel, 0, "no stage 'kernel' without a kernel cancel")
      t.equal(counts.issued, r.issuedBeforeAbort - counts.ok, "in-kernel aborts report 'issued'")
    })

    t.test(`${backend}: kernelCancel 'trust' lets the depth grow to the ring size, 'auto' keeps it small`, async (t) => {
      const entries = 32
      const trust = await runInCgroup(dev, { mode: 'massAbort', backend, kernelCancel: 'trust', entries, n: 100, op: 'read', path: dev.loop, deviceSize: dev.sizeBytes, abortAfterMs: 200, lateStatsMs: 100 })
      const ring = Math.min(entries, backend === 'libaio' ? Math.floor(nrRequests / 2) : nrRequests)
      t.comment(`${backend} trust: peak ${trust.statsBefore.depth.peak} (ring ${entries}, nr_requests ${nrRequests}), ${JSON.stringify(tally(trust.results))}`)
      t.equal(trust.statsBefore.depth.peak, ring, `'trust': depth reached the ring size (${ring})`)
      t.ok(trust.statsLate.kernelCancels.sent > 0, "'trust' sent kernel cancels for the in-kernel requests")
      const auto = await runInCgroup(dev, { mode: 'massAbort', backend, kernelCancel: 'auto', entries, n: 100, op: 'read', path: dev.loop, deviceSize: dev.sizeBytes, abortAfterMs: 200, lateStatsMs: 100 })
      t.comment(`${backend} auto: peak ${auto.statsBefore.depth.peak}, ${JSON.stringify(tally(auto.results))}`)
      t.ok(auto.statsBefore.depth.peak <= 8, `'auto': depth stayed small (${auto.statsBefore.depth.peak})`)
      t.ok(tally(auto.results).queued > tally(trust.results).queued, "'auto' kept more requests cancellable in the queue")
      for (const r of [trust, auto]) for (const k of Object.keys(tally(r.results))) if (k !== 'ok' && tally(r.results)[k] > 0) t.ok(expectedStages(backend).has(k))
    })
  }
})
