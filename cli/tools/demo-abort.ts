// The cancellation half of `direct-aio demo`: queue a few hundred reads,
// abort them, and show where each abort landed, how many reads the device
// still did, the bytes saved and how long settling took; on a throttled
// loop device as root (the reads run in a child inside the blkio cgroup),
// else on the scratch file.
import * as path from 'node:path'
import { AbortError, allocAligned, DirectFileHandle, IoContext, open } from 'direct-aio'
import type { IoStats } from 'direct-aio'
import { BLOCK, fmtBytes, now, pad, pct, sleep } from './format'

const ABORT_N = 300
const ABORT_AFTER_MS = 300
const IOPS = 50

// ---------------------------------------------------------------------------
// Part 2: queue reads, abort them, report. Runs in this process (plain file)
// or in a child inside the throttled cgroup (`demo --child <json>`).

interface AbortConfig {
  path: string
  size: number
  n: number
  maxInFlight: number | 'auto'
  entries: number
  /** Abort this long after queueing; 0 = right after the first completion. */
  abortAfterMs: number
}

interface AbortReport {
  backend: string
  counts: { completed: number; queued: number; kernel: number; issued: number; failed: number }
  issuedBeforeAbort: number
  settle: { p50: number; p99: number; max: number }
  stats: IoStats
}

async function abortRun(cfg: AbortConfig): Promise<AbortReport> {
  const ctx = new IoContext({ maxInFlight: cfg.maxInFlight, entries: cfg.entries })
  const f: DirectFileHandle = await open(cfg.path, 'r', { context: ctx })
  const ac = new AbortController()
  const counts = { completed: 0, queued: 0, kernel: 0, issued: 0, failed: 0 }
  const settledAt: number[] = []
  let firstDone: () => void = () => {}
  const first = new Promise<void>((r) => (firstDone = r))
  const spacing = Math.max(BLOCK, Math.floor(cfg.size / cfg.n / BLOCK) * BLOCK)
  const ps: Array<Promise<void>> = []
  for (let i = 0; i < cfg.n; i++) {
    const b = allocAligned(BLOCK)
    ps.push(
      f.read(b, { position: (i * spacing) % (cfg.size - BLOCK), signal: ac.signal }).then(
        () => {
          counts.completed++
          settledAt.push(now())
          firstDone()
        },
        (e: unknown) => {
          settledAt.push(now())
          if (e instanceof AbortError) counts[e.stage]++
          else counts.failed++
        },
      ),
    )
  }
  if (cfg.abortAfterMs > 0) await sleep(cfg.abortAfterMs)
  else await first
  const before = ctx.stats()
  const abortAt = now()
  ac.abort()
  await Promise.all(ps)
  const stats = ctx.stats()
  await f.close()
  await ctx.close()
  const after = settledAt.filter((t) => t >= abortAt).map((t) => t - abortAt)
  return {
    backend: ctx.backend,
    counts,
    issuedBeforeAbort: before.requests.submitted - before.queued,
    settle: { p50: pct(after, 0.5), p99: pct(after, 0.99), max: after.length ? Math.max(...after) : 0 },
    stats,
  }
}

/** `demo --child <json>`: one abort run, its report on stdout. */
export async function abortChild(json: string): Promise<number> {
  const report = await abortRun(JSON.parse(json) as AbortConfig)
  process.stdout.write(JSON.stringify(report))
  return 0
}

function abortTable(log: (s: string) => void, cols: Array<{ title: string; r: AbortReport; deviceReads: number | null }>): void {
  const w0 = 27
  const w = 31
  const row = (label: string, f: (c: { r: AbortReport; deviceReads: number | null }) => string) => log(pad(label, w0, false) + cols.map((c) => pad(f(c), w)).join(''))
  log(pad('', w0, false) + cols.map((c) => pad(c.title, w)).join(''))
  row('completed before abort', (c) => String(c.r.counts.completed))
  row("aborted, stage 'queued'", (c) => String(c.r.counts.queued))
  row("aborted, stage 'kernel'", (c) => String(c.r.counts.kernel))
  row("aborted, stage 'issued'", (c) => String(c.r.counts.issued))
  if (cols.some((c) => c.r.counts.failed > 0)) row('failed', (c) => String(c.r.counts.failed))
  row('sent to the kernel', (c) => String(c.r.issuedBeforeAbort))
  if (cols.some((c) => c.deviceReads !== null)) row('reads the device did', (c) => (c.deviceReads === null ? '-' : String(c.deviceReads)))
  row('kernel cancels sent', (c) => {
    const k = c.r.stats.kernelCancels
    return k.sent === 0 ? '0' : `${k.sent} (${k.cancelled} cancelled)`
  })
  row('bytes saved', (c) => fmtBytes(c.r.stats.bytes.saved))
  row('settle ms p50 / p99 / max', (c) => `${c.r.settle.p50.toFixed(1)} / ${c.r.settle.p99.toFixed(1)} / ${c.r.settle.max.toFixed(1)}`)
}

export async function throttledAbort(log: (s: string) => void, register: (fn: () => void) => void): Promise<boolean> {
  const { CongestedDevice, congestUnsupported } = require('./congest') as typeof import('./congest')
  const why = congestUnsupported()
  if (why) {
    log(`Not using a throttled device: ${why}. Aborting reads on the scratch file instead.`)
    return false
  }
  let dev: import('./congest').CongestedDevice | null = null
  try {
    dev = CongestedDevice.create({ sizeMiB: 64, readIops: IOPS, writeIops: IOPS, fill: 'zero' })
    const d = dev
    register(() => d.destroy())
    const script = path.join(__dirname, '..', '..', 'bin', 'direct-aio.js')
    log(`Running as root: ${d.loop}, a loop device throttled to ${IOPS} read IOPS by the blkio cgroup ${path.basename(d.cgroup)}.`)
    log(`${ABORT_N} random 4 KiB reads are queued at once and all aborted ${ABORT_AFTER_MS} ms later, once with direct-aio's`)
    log(`queue ('auto' depth) and once with every read handed to the kernel at once (maxInFlight ${ABORT_N}, kernel cancel only).`)
    log('')
    const cols: Array<{ title: string; r: AbortReport; deviceReads: number | null }> = []
    for (const [title, maxInFlight] of [["direct-aio 'auto'", 'auto'], [`kernel only (${ABORT_N} in flight)`, ABORT_N]] as const) {
      const cfg: AbortConfig = { path: d.loop, size: d.sizeBytes, n: ABORT_N, maxInFlight, entries: 512, abortAfterMs: ABORT_AFTER_MS }
      const before = await d.settle(100)
      const r = await d.run(script, ['demo', '--child', JSON.stringify(cfg)], { timeoutMs: 20000 })
      if (r.code !== 0) throw new Error(`the child in the cgroup failed (${r.code ?? r.signal}): ${r.stderr.trim().split('\n')[0]}`)
      const after = await d.settle(200)
      cols.push({ title, r: JSON.parse(r.stdout) as AbortReport, deviceReads: after.readsCompleted - before.readsCompleted })
    }
    abortTable(log, cols)
    log('')
    const [a, k] = cols
    log(`With direct-aio's queue the device did ${a.deviceReads} of the ${ABORT_N} reads; handed to the kernel at once it did ${k.deviceReads}.`)
    const kc = k.r.stats.kernelCancels
    log(`In the kernel-only run the kernel was asked to cancel ${kc.sent} reads and cancelled ${kc.cancelled}: a read that has`)
    log('reached the block layer cannot be called back, so only a request that never left the queue is really cancelled.')
    log(`Backend: ${a.r.backend}.`)
    return true
  } catch (e) {
    log(`The throttled device did not work here (${(e as Error).message}); aborting reads on the scratch file instead.`)
    return false
  } finally {
    if (dev) dev.destroy()
  }
}

export async function plainAbort(log: (s: string) => void, file: string, size: number): Promise<void> {
  log(`${ABORT_N} random 4 KiB reads of the scratch file are queued at once and aborted as soon as the first completes,`)
  log(`once with direct-aio's queue ('auto' depth) and once with all of them in the kernel (maxInFlight ${ABORT_N}).`)
  log('This disk is fast, so the kernel-only run finishes most reads before the abort can matter; as root, the demo uses a')
  log('throttled loop device where the difference shows in the device counters.')
  log('')
  const cols: Array<{ title: string; r: AbortReport; deviceReads: number | null }> = []
  for (const [title, maxInFlight] of [["direct-aio 'auto'", 'auto'], [`kernel only (${ABORT_N} in flight)`, ABORT_N]] as const) {
    const r = await abortRun({ path: file, size, n: ABORT_N, maxInFlight, entries: 512, abortAfterMs: 0 })
    cols.push({ title, r, deviceReads: null })
  }
  abortTable(log, cols)
}
