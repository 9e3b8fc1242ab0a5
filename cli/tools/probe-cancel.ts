// `direct-aio doctor --probe-cancel DIR`: measure, instead of assuming,
// whether this kernel's cancel keeps an O_DIRECT read that is already in the
// block layer from reaching the device.
//
// The parent builds a throttled loop device (tools/congest.ts) with its
// backing image in DIR. For each available backend it runs a child inside
// the throttled cgroup (this same file, `--child` mode): the child puts N
// 4 KiB reads straight into the kernel (maxInFlight and entries >= N), aborts
// them all, and reports how each abort landed and what the kernel answered.
// The parent counts the reads the device completed. One more run uses
// direct-aio's defaults (backend 'auto', adaptive depth) for comparison.
// Nothing is persisted: the device, cgroup and image are removed at the end.
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { BackendName, IoStats } from 'direct-aio'

/** What one child run reports. */
export interface ProbeRun {
  /** 'io_uring' | 'libaio' | 'threadpool' (raw, straight to the kernel) or 'default'. */
  label: string
  backend: BackendName | null
  maxInFlight: number | 'auto'
  entries: number
  reads: number
  /** Requests in the kernel (or thread pool) when the abort fired. */
  inKernelAtAbort: number
  /** Requests still in direct-aio's queue when the abort fired. */
  queuedAtAbort: number
  /** Bios that had entered the block layer when the abort fired (blkio.throttle.io_serviced). */
  bioSubmittedAtAbort: number | null
  /** How each request ended: completed normally, or aborted at which stage; failed with an error. */
  stages: { completed: number; queued: number; kernel: number; issued: number; failed: number }
  /** The kernel's answers to cancels (from IoContext.stats()). */
  kernelCancels: IoStats['kernelCancels']
  /** Reads the device completed during the run (its /sys/block/<dev>/stat). */
  deviceReads: number
  /** Longest time from abort to a request's settlement, ms. */
  settleMaxMs: number
  /** Set when the run failed. */
  error?: string
}

export interface ProbeCancelResult {
  /** The probe device as it was (all of it is removed before the result is returned). */
  device: { loop: string; readIops: number; imageDir: string; image: string; cgroup: string; imageMiB: number; spacing: number; nrRequests: number | null }
  runs: ProbeRun[]
  /** True only if requests the kernel cancelled after they entered the block layer never reached the device. */
  blockLayerCancel: boolean
  verdict: string
}

export interface ProbeCancelOptions {
  /** Directory for the temporary backing image (must support O_DIRECT). */
  dir: string
  /** Reads per run. Default 100. */
  reads?: number
  /** Read IOPS the device is throttled to. Default 50. */
  readIops?: number
  /** Time between issuing the reads and aborting them, ms. Default 100. */
  abortAfterMs?: number
  /** Backends to probe raw; default every available one. */
  backends?: BackendName[]
  /** Progress lines (to stderr in the CLI). */
  log?: (line: string) => void
}

interface ChildConfig {
  path: string
  label: string
  backend: BackendName | 'auto'
  maxInFlight: number | 'auto'
  entries: number | null
  n: number
  spacing: number
  deviceSize: number
  abortAfterMs: number
  cgroup: string
  majmin: string
}

interface ChildReport {
  backend: BackendName
  inKernelAtAbort: number
  queuedAtAbort: number
  bioSubmittedAtAbort: number | null
  bioSubmittedBefore: number | null
  stages: ProbeRun['stages']
  kernelCancels: IoStats['kernelCancels']
  settleMaxMs: number
  errors: string[]
}

const READ_SIZE = 4096
// Reads this far apart never merge into one device request.
const SPACING = 256 * 1024

/** Why the probe cannot run here, or null. */
export function probeCancelUnsupported(): string | null {
  const { congestUnsupported } = require('./congest') as typeof import('./congest')
  return congestUnsupported()
}

/** Check that `dir` can hold the loop device's backing image. */
function checkDir(dir: string): string | null {
  let st: fs.Stats
  try {
    st = fs.statSync(dir)
  } catch (e) {
    return `${dir}: ${(e as Error).message}`
  }
  if (!st.isDirectory()) return `${dir} is not a directory (--probe-cancel takes the directory where the temporary backing image is created)`
  const probe = path.join(dir, `.direct-aio-probe-${process.pid}`)
  try {
    const fd = fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR | fs.constants.O_DIRECT, 0o600)
    fs.closeSync(fd)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'EINVAL' ? `${dir} does not support O_DIRECT (tmpfs?): the loop device needs a disk-backed directory such as /var/tmp` : `${dir}: ${(e as Error).message}`
  } finally {
    fs.rmSync(probe, { force: true })
  }
  return null
}

function childScript(): string {
  // From lib/ (run by tsx in the tests) the child is the compiled file in dist/.
  if (__filename.endsWith('.ts')) return path.resolve(__dirname, '..', '..', 'dist', 'tools', 'probe-cancel.js')
  return __filename
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim()
  } catch {
    return ''
  }
}

function readNrRequests(name: string): number | null {
  try {
    return Number(fs.readFileSync(`/sys/block/${name}/queue/nr_requests`, 'utf8').trim())
  } catch {
    return null
  }
}

/**
 * Build the throttled device, run every backend's raw probe and the default
 * run, tear everything down, and return the measurements. Throws if the
 * machine cannot build the device (not root, no blkio, ...).
 */
export async function probeCancel(options: ProbeCancelOptions): Promise<ProbeCancelResult> {
  const why = probeCancelUnsupported()
  if (why) throw new Error(`--probe-cancel cannot run here: ${why}`)
  const dirProblem = checkDir(options.dir)
  if (dirProblem) throw new Error(dirProblem)
  const n = options.reads ?? 100
  const readIops = options.readIops ?? 50
  const abortAfterMs = options.abortAfterMs ?? 100
  const log = options.log ?? (() => {})
  const { capabilities } = require('direct-aio') as typeof import('direct-aio')
  const { CongestedDevice } = require('./congest') as typeof import('./congest')
  const caps = capabilities()
  const backends = options.backends ?? caps.backends.filter((b) => b.available).map((b) => b.name)
  const script = childScript()
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: build the package first (npx tsc -p tsconfig.json)`)

  const imageMiB = Math.max(8, Math.ceil((n * SPACING + READ_SIZE) / (1 << 20)))
  log(`building a ${imageMiB} MiB loop device in ${options.dir}, throttled to ${readIops} read IOPS`)
  // Loop devices are reused and keep a queue/nr_requests set by an earlier
  // user: restore the driver's full queue depth so the device queue itself is
  // not what congests (the throttle is).
  const nrRequests = Number(readFile('/sys/module/loop/parameters/hw_queue_depth')) || 128
  const dev = CongestedDevice.create({ sizeMiB: imageMiB, readIops, writeIops: 0, fill: 'zero', dir: options.dir, nrRequests })
  const runs: ProbeRun[] = []
  const nrNow = readNrRequests(dev.name)
  try {
    const plan: Array<{ label: string; backend: BackendName | 'auto'; maxInFlight: number | 'auto'; entries: number | null }> = backends.map((b) => ({
      label: b,
      backend: b,
      maxInFlight: n,
      entries: Math.max(n, 8),
    }))
    plan.push({ label: 'default', backend: 'auto', maxInFlight: 'auto', entries: null })
    await dev.settle(200, 5000)
    for (const p of plan) {
      const cfg: ChildConfig = { path: dev.loop, label: p.label, backend: p.backend, maxInFlight: p.maxInFlight, entries: p.entries, n, spacing: SPACING, deviceSize: dev.sizeBytes, abortAfterMs, cgroup: dev.cgroup, majmin: dev.majmin }
      log(`${p.label}: ${n} reads, maxInFlight ${p.maxInFlight}, abort after ${abortAfterMs} ms`)
      const before = dev.counters().readsCompleted
      const timeoutMs = 30000 + Math.ceil((n / Math.max(1, readIops)) * 1000) * 2
      const out = await dev.run(script, ['--child', JSON.stringify(cfg)], { timeoutMs })
      const after = (await dev.settle(300, timeoutMs)).readsCompleted
      const base: ProbeRun = {
        label: p.label,
        backend: p.backend === 'auto' ? null : p.backend,
        maxInFlight: p.maxInFlight,
        entries: p.entries ?? 256,
        reads: n,
        inKernelAtAbort: 0,
        queuedAtAbort: 0,
        bioSubmittedAtAbort: null,
        stages: { completed: 0, queued: 0, kernel: 0, issued: 0, failed: 0 },
        kernelCancels: { sent: 0, cancelled: 0, notFound: 0, alreadyRunning: 0, refused: 0 },
        deviceReads: after - before,
        settleMaxMs: 0,
      }
      let report: ChildReport | null = null
      try {
        report = JSON.parse(out.stdout) as ChildReport
      } catch {
        base.error = `child exited with ${out.signal ?? out.code}: ${out.stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`
      }
      if (report) {
        base.backend = report.backend
        base.inKernelAtAbort = report.inKernelAtAbort
        base.queuedAtAbort = report.queuedAtAbort
        base.bioSubmittedAtAbort = report.bioSubmittedAtAbort !== null && report.bioSubmittedBefore !== null ? report.bioSubmittedAtAbort - report.bioSubmittedBefore : null
        base.stages = report.stages
        base.kernelCancels = report.kernelCancels
        base.settleMaxMs = report.settleMaxMs
        if (report.errors.length) base.error = report.errors.slice(0, 3).join('; ')
      }
      runs.push(base)
    }
  } finally {
    dev.destroy()
  }
  const { blockLayerCancel, verdict } = judge(runs)
  return {
    device: { loop: dev.loop, readIops, imageDir: options.dir, image: dev.image, cgroup: dev.cgroup, imageMiB, spacing: SPACING, nrRequests: nrNow },
    runs,
    blockLayerCancel,
    verdict,
  }
}

/**
 * blockLayerCancel is true only if some raw run had requests that the kernel
 * cancelled (completed with -ECANCELED) although they had already entered the
 * block layer, and the device did not read them.
 */
export function judge(runs: ProbeRun[]): { blockLayerCancel: boolean; verdict: string } {
  const raw = runs.filter((r) => r.label !== 'default' && r.backend !== 'threadpool' && !r.error)
  if (raw.length === 0) return { blockLayerCancel: false, verdict: 'no kernel backend could be probed; blockLayerCancel stays false' }
  const parts: string[] = []
  let yes = false
  for (const r of raw) {
    const cancelled = r.stages.kernel
    // Requests not yet in the block layer at the abort could have been
    // cancelled from io_uring's worker pool: that is not a block-layer cancel.
    const outsideBlockLayer = r.bioSubmittedAtAbort === null ? r.reads : Math.max(0, r.inKernelAtAbort - r.bioSubmittedAtAbort)
    const spared = r.reads - r.deviceReads
    const blockLayerCancelled = Math.min(cancelled, spared) - outsideBlockLayer
    if (blockLayerCancelled > 0) {
      yes = true
      parts.push(`${r.label}: ${blockLayerCancelled} reads cancelled after entering the block layer never reached the device`)
    } else if (cancelled > 0) {
      parts.push(`${r.label}: the kernel cancelled ${cancelled} reads, but not from the block layer (${r.deviceReads}/${r.reads} reached the device)`)
    } else {
      parts.push(`${r.label}: the kernel cancelled none; ${r.deviceReads}/${r.reads} reads reached the device`)
    }
  }
  const verdict = yes
    ? `blockLayerCancel would be true: ${parts.join('; ')}. Nothing is persisted; an operator may set kernelCancel: 'trust' (DIRECT_AIO_KERNEL_CANCEL=trust).`
    : `blockLayerCancel stays false: ${parts.join('; ')}. Aborts are effective only while requests wait in direct-aio's queue; keep maxInFlight 'auto'.`
  return { blockLayerCancel: yes, verdict }
}

// ---- child: runs inside the throttled cgroup --------------------------------

function servicedReads(cgroup: string, majmin: string): number | null {
  try {
    for (const line of fs.readFileSync(`${cgroup}/blkio.throttle.io_serviced`, 'utf8').split('\n')) {
      const [mm, op, v] = line.trim().split(/\s+/)
      if (mm === majmin && op === 'Read') return Number(v)
    }
    return 0
  } catch {
    return null
  }
}

async function child(cfg: ChildConfig): Promise<ChildReport> {
  const { IoContext, open, allocAligned, AbortError } = require('direct-aio') as typeof import('direct-aio')
  const ctx =
    cfg.label === 'default'
      ? new IoContext()
      : new IoContext({ backend: cfg.backend, maxInFlight: cfg.maxInFlight, entries: cfg.entries ?? 256, kernelCancel: 'trust' })
  const f = await open(cfg.path, 'r', { context: ctx })
  const size = cfg.deviceSize
  const ac = new AbortController()
  const stages = { completed: 0, queued: 0, kernel: 0, issued: 0, failed: 0 }
  const errors: string[] = []
  const settledAt: number[] = []
  const bioSubmittedBefore = servicedReads(cfg.cgroup, cfg.majmin)
  const ps: Promise<void>[] = []
  for (let i = 0; i < cfg.n; i++) {
    const buf = allocAligned(READ_SIZE)
    const pos = (i * cfg.spacing) % Math.max(READ_SIZE, size - READ_SIZE)
    ps.push(
      f.read(buf, { position: pos, signal: ac.signal }).then(
        () => {
          stages.completed++
        },
        (e: unknown) => {
          if (e instanceof AbortError) stages[e.stage]++
          else {
            stages.failed++
            if (errors.length < 5) errors.push(String((e as Error).message))
          }
        },
      ).finally(() => settledAt.push(performance.now())),
    )
  }
  await new Promise((r) => setTimeout(r, cfg.abortAfterMs))
  const at = ctx.stats()
  const bioSubmittedAtAbort = servicedReads(cfg.cgroup, cfg.majmin)
  const abortAt = performance.now()
  ac.abort()
  await Promise.all(ps)
  const stats = ctx.stats()
  await f.close()
  await ctx.close()
  return {
    backend: ctx.backend,
    inKernelAtAbort: at.depth.current,
    queuedAtAbort: at.queued,
    bioSubmittedAtAbort,
    bioSubmittedBefore,
    stages,
    kernelCancels: stats.kernelCancels,
    settleMaxMs: Math.round(Math.max(0, ...settledAt.map((t) => t - abortAt)) * 10) / 10,
    errors,
  }
}

if (require.main === module && process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3]) as ChildConfig).then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`)
      process.exitCode = 1
    },
  )
}
