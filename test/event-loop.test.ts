// The event loop is never blocked: on the throttled loop device (root), with
// each backend, 400 requests are queued, partly issued, then aborted, while
// monitorEventLoopDelay (1 ms resolution) watches the child's loop. Its max
// must stay under 50 ms (a generous bound; bench/ reports the real figure).
// Also with the device queue itself congested (nr_requests 4), where libaio's
// io_submit would block if the in-kernel depth reached nr_requests, and with
// an explicit maxInFlight of 400.
import t from 'tap'
import * as path from 'node:path'
import { capabilities } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'

const CHILD = path.join(__dirname, 'fixtures', 'abort-child.js')
const BOUND_MS = 50
const caps = capabilities()
const backends: Array<[string, string | false]> = [
  ['io_uring', caps.ioUring.available ? false : `io_uring unavailable: ${caps.ioUring.reason}`],
  ['libaio', caps.libaio.available ? false : `libaio unavailable: ${caps.libaio.reason}`],
  ['threadpool', false],
]
const noCongest = congestUnsupported()

interface ChildReport {
  backend: string
  loopDelayMaxMs: number
  results: Array<{ ok: boolean; name?: string; stage?: string }>
  settleMs: number[]
  issuedBeforeAbort: number
}

const summary: string[] = []

// The first setup is the contract (each backend, reads and writes, default depth).
// The others push the depth up (faster throttle so the issued requests drain quickly).
// Their bound is looser (200 ms): it still catches a blocking io_submit (seconds, per
// FACTS.md) without turning scheduler noise on a busy 2-core machine into failures.
const setups: Array<{ name: string; device: { readIops: number; writeIops: number; nrRequests?: number }; maxInFlight: number | 'auto'; ops: Array<'read' | 'write'>; bound: number }> = [
  { name: 'throttled 50 IOPS, maxInFlight auto', device: { readIops: 50, writeIops: 50 }, maxInFlight: 'auto', ops: ['read', 'write'], bound: BOUND_MS },
  { name: 'throttled 200 IOPS, maxInFlight 400', device: { readIops: 200, writeIops: 200 }, maxInFlight: 400, ops: ['read'], bound: 200 },
  { name: 'device queue congested (nr_requests 4, 200 IOPS), maxInFlight 400', device: { readIops: 200, writeIops: 200, nrRequests: 4 }, maxInFlight: 400, ops: ['write'], bound: 200 },
]

t.test('event loop delay while 400 requests are queued and aborted', { skip: noCongest ? `throttled device unavailable: ${noCongest}` : false }, async (t) => {
  for (const setup of setups) {
    await t.test(setup.name, async (t) => {
      const dev = CongestedDevice.create({ sizeMiB: 64, fill: 'zero', ...setup.device })
      t.teardown(() => dev.destroy())
      for (const [backend, skip] of backends) {
        for (const op of setup.ops) {
          await t.test(`${backend} ${op}s`, { skip }, async (t) => {
            const cfg = { path: dev.loop, n: 400, op, backend, maxInFlight: setup.maxInFlight, abortAfterMs: 300, deviceSize: dev.sizeBytes, spacing: 1 << 17 }
            const r = await dev.run(CHILD, [JSON.stringify(cfg)], { timeoutMs: 60000 })
            t.equal(r.signal, null, 'the child was not killed (no hang)')
            t.equal(r.code, 0, `the child exited cleanly${r.code ? `: ${r.stderr.slice(0, 300)}` : ''}`)
            if (r.code !== 0) return
            const rep = JSON.parse(r.stdout) as ChildReport
            t.equal(rep.backend, backend, `backend ${backend}`)
            t.equal(rep.results.length, 400, 'every request settled')
            const aborted = rep.results.filter((x) => !x.ok && x.name === 'AbortError').length
            const maxSettle = Math.max(...rep.settleMs)
            t.ok(rep.loopDelayMaxMs < setup.bound, `event loop delay max ${rep.loopDelayMaxMs.toFixed(1)} ms < ${setup.bound} ms`)
            summary.push(`${setup.name} / ${backend} ${op}s: loop delay max ${rep.loopDelayMaxMs.toFixed(1)} ms; ${rep.issuedBeforeAbort} issued before the abort, ${aborted} aborted; last settled ${maxSettle.toFixed(0)} ms after the abort`)
          })
        }
      }
    })
  }
  t.comment(`event-loop delay:\n${summary.join('\n')}`)
})
