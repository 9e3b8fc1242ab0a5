// Cancellation child, run inside the throttled cgroup (CongestedDevice.run):
// queue N 4 KiB reads on the congested device with one AbortSignal, abort
// them all after `abortAfterMs`, and report where each abort landed, how
// long each request took to settle after the abort, and the event loop's
// worst delay. It reads the device's completed-read counter at the moment of
// the abort so the parent can tell reads before the abort from reads after.
import * as fs from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { percentileSorted } from './summary'
import type { CancelChildResult, CancelConfig } from './types'

function deviceReads(statPath: string): number {
  return Number(fs.readFileSync(statPath, 'utf8').trim().split(/\s+/)[0])
}

function pct(xs: number[]): { p50: number; p99: number; max: number } {
  const s = Float64Array.from(xs).sort()
  const r = (x: number) => Math.round(x * 1000) / 1000
  return { p50: r(percentileSorted(s, 50)), p99: r(percentileSorted(s, 99)), max: r(s.length ? s[s.length - 1] : NaN) }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as CancelConfig
  const dio = await import('../lib/index')
  const ctx = new dio.IoContext({ backend: cfg.backend, maxInFlight: cfg.maxInFlight, entries: cfg.entries })
  let openedPath = cfg.path
  let openError: string | undefined
  let fh: Awaited<ReturnType<typeof dio.open>>
  try {
    fh = await dio.open(cfg.path, 'r', { context: ctx })
  } catch (e) {
    if (!cfg.fallbackPath || (e as { code?: string }).code !== 'EINVAL') throw e
    openError = (e as Error).message
    openedPath = cfg.fallbackPath
    fh = await dio.open(cfg.fallbackPath, 'r', { context: ctx })
  }
  const bufs = Array.from({ length: cfg.n }, () => dio.allocAligned(cfg.bs, 4096))
  const ac = new AbortController()
  const whole = monitorEventLoopDelay({ resolution: 1 })
  const afterAbort = monitorEventLoopDelay({ resolution: 1 })
  whole.enable()
  const settledAt = new Float64Array(cfg.n)
  const stageOf: string[] = new Array(cfg.n)
  let errors = 0
  const ps: Promise<void>[] = []
  for (let i = 0; i < cfg.n; i++) {
    const pos = (i * cfg.spacing) % (cfg.deviceSize - cfg.bs)
    ps.push(
      fh.read(bufs[i], { offset: 0, length: cfg.bs, position: pos, signal: ac.signal }).then(
        () => {
          stageOf[i] = 'completed'
          settledAt[i] = performance.now()
        },
        (e: { name?: string; stage?: string }) => {
          if (e.name === 'AbortError') stageOf[i] = e.stage ?? 'unknown'
          else {
            stageOf[i] = 'error'
            errors++
          }
          settledAt[i] = performance.now()
        },
      ),
    )
  }
  // The histogram records a delay only from its second tick on, so start the
  // post-abort one a little before the abort (the loop is idle then: every
  // read is waiting on the throttled device).
  await new Promise((r) => setTimeout(r, Math.max(0, cfg.abortAfterMs - 50)))
  afterAbort.enable()
  await new Promise((r) => setTimeout(r, Math.min(50, cfg.abortAfterMs)))
  const before = ctx.stats()
  const readsAtAbort = deviceReads(cfg.statPath)
  const abortAt = performance.now()
  const cpu0 = process.cpuUsage()
  ac.abort()
  const abortCpu = process.cpuUsage(cpu0)
  const abortReturned = performance.now()
  await Promise.all(ps)
  const lastSettle = performance.now()
  // A loop blocked by the abort itself shows up only when the histogram's
  // timer next fires: give it a few turns before reading the maximum.
  await new Promise((r) => setTimeout(r, 20))
  afterAbort.disable()
  whole.disable()
  const after = ctx.stats()
  await fh.close()
  await ctx.close()

  const stages: Record<string, number> = {}
  const all: number[] = []
  const queued: number[] = []
  for (let i = 0; i < cfg.n; i++) {
    stages[stageOf[i]] = (stages[stageOf[i]] ?? 0) + 1
    if (stageOf[i] === 'completed' && settledAt[i] < abortAt) continue
    const dt = settledAt[i] - abortAt
    all.push(dt)
    if (stageOf[i] === 'queued') queued.push(dt)
  }
  const result: CancelChildResult = {
    backend: ctx.backend,
    openedPath,
    openError,
    n: cfg.n,
    deviceReadsAtAbortAbs: readsAtAbort,
    queuedAtAbort: before.queued,
    inKernelAtAbort: before.depth.current,
    completedBeforeAbort: before.requests.completed,
    stages,
    settleAllMs: pct(all),
    settleQueuedMs: { ...pct(queued), n: queued.length },
    loopDelayMaxMs: whole.max / 1e6,
    loopDelayMaxAfterAbortMs: afterAbort.max / 1e6,
    peakDepth: after.depth.peak,
    lastSettleMs: lastSettle - abortAt,
    abortSyncMs: abortReturned - abortAt,
    abortCpuMs: (abortCpu.user + abortCpu.system) / 1000,
    errors,
  }
  process.stdout.write(JSON.stringify(result))
}

main().catch((e) => {
  process.stderr.write(String((e as Error).stack ?? e))
  process.exit(1)
})
