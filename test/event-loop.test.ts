// The event loop is never blocked: on the throttled loop device (root), with
// each backend, 400 requests are queued, partly issued, then aborted, while
// monitorEventLoopDelay (1 ms resolution) watches the child's loop. Its max
// must stay under 50 ms (a generous bound; bench/ reports the real figure).
// Also with the device queue itself congested (nr_requests 4), where libaio's
// io_submit would block if the in-kernel depth reached nr_requests, and with
// an explicit maxInFlight of 400.
import t from 'tap'
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { capabilities } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'
import { scratchDir } from './helpers/tmp'

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

// Without O_DIRECT a page-cache hit completes inside the submit, so each
// completion's continuation queues the next read before the ring has been
// drained. The native rings must still hand back to the event loop now and
// then (src/ring_wrap.cc, Dispatch's budget): before they did, these loops
// were served inside one poll callback forever and no timer ever fired. No
// root needed; the child runs under a timeout, so a starved loop fails, not hangs.
t.test('await loops on page-cached data leave the event loop turning', async (t) => {
  const dir = scratchDir()
  const file = path.join(dir, 'cached.dat')
  fs.writeFileSync(file, Buffer.alloc(4 << 20, 7))
  fs.readFileSync(file) // into the page cache
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const [backend, skip] of backends) {
    for (const depth of [1, 32]) {
      await t.test(`${backend}, ${depth} loop(s)`, { skip }, async (t) => {
        const cfg = { path: file, backend, depth, ms: 500 }
        const r = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [path.join(__dirname, 'fixtures', 'cached-loop-child.js'), JSON.stringify(cfg)], { timeout: 30000 }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, signal: err ? ((err as { signal?: string }).signal ?? null) : null, stdout, stderr }),
          )
        })
        t.equal(r.signal, null, 'the child ended by itself: its timer fired (no starved event loop)')
        t.equal(r.code, 0, `the child exited cleanly${r.code ? `: ${r.stderr.slice(0, 300)}` : ''}`)
        if (r.code !== 0) return
        const rep = JSON.parse(r.stdout) as { backend: string; ticks: number; reads: number }
        t.equal(rep.backend, backend, `backend ${backend}`)
        t.ok(rep.reads > 0, `${rep.reads} reads done`)
        // 50 ticks in 500 ms if the loop were idle; 5 says it kept turning (a loose bound for a busy machine).
        t.ok(rep.ticks >= 5, `a 10 ms interval fired ${rep.ticks} times in 500 ms of reads`)
      })
    }
  }
})
