// `direct-aio demo`: write a scratch file with O_DIRECT, read it back at
// several queue depths, then queue a few hundred reads and abort them, and
// show where each abort landed, how many reads the device still did, the
// bytes saved and how long settling took. As root the abort part runs on a
// loop device throttled to 50 IOPS (the child runs inside the blkio cgroup);
// otherwise on the scratch file. Everything it creates is removed.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { AbortError, allocAligned, DirectFileHandle, IoContext, open } from 'direct-aio'
import type { IoStats } from 'direct-aio'

const KiB = 1024
const MiB = 1024 * KiB
const FILE_SIZE = 64 * MiB
const BLOCK = 4096
const DEPTHS = [1, 8, 32, 128]
const DEPTH_MS = 700
const ABORT_N = 300
const ABORT_AFTER_MS = 300
const IOPS = 50

const now = (): number => performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function fmtBytes(n: number): string {
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`
  if (n >= KiB) return `${(n / KiB).toFixed(0)} KiB`
  return `${n} B`
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return 0
  const s = values.slice().sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]
}

function pad(s: string | number, n: number, left = true): string {
  const t = String(s)
  return left ? t.padStart(n) : t.padEnd(n)
}

// ---------------------------------------------------------------------------
// Scratch directory: DIRECT_AIO_DEMO_DIR, else the OS temp dir; /var/tmp if
// that refuses O_DIRECT (tmpfs).

async function acceptsDirect(dir: string): Promise<string | null> {
  const probe = path.join(dir, `.direct-aio-probe-${process.pid}`)
  try {
    const f = await open(probe, 'w+', { context: new IoContext({ entries: 4 }) })
    await f.close()
    await f.context.close()
    return null
  } catch (e) {
    return (e as Error).message
  } finally {
    fs.rmSync(probe, { force: true })
  }
}

async function pickDir(log: (s: string) => void): Promise<string> {
  const wanted = process.env.DIRECT_AIO_DEMO_DIR || os.tmpdir()
  const source = process.env.DIRECT_AIO_DEMO_DIR ? 'DIRECT_AIO_DEMO_DIR' : 'the OS temp dir'
  const why = await acceptsDirect(wanted)
  if (why === null) return wanted
  log(`${wanted} (${source}) refuses O_DIRECT (${why.split(' (')[0]}); using /var/tmp instead`)
  const why2 = await acceptsDirect('/var/tmp')
  if (why2 === null) return '/var/tmp'
  throw new Error(`neither ${wanted} nor /var/tmp accepts O_DIRECT; set DIRECT_AIO_DEMO_DIR to a disk-backed directory`)
}

// ---------------------------------------------------------------------------
// Part 1: write, then random 4 KiB reads at fixed depths.

async function writeScratch(file: string): Promise<number> {
  const ctx = new IoContext()
  const f = await open(file, 'w+', { context: ctx })
  const t0 = now()
  try {
    const chunk = 1 * MiB
    const bufs = [allocAligned(chunk), allocAligned(chunk), allocAligned(chunk), allocAligned(chunk)]
    for (let pos = 0; pos < FILE_SIZE; pos += chunk * bufs.length) {
      const ps: Array<Promise<unknown>> = []
      bufs.forEach((b, i) => {
        const at = pos + i * chunk
        for (let off = 0; off < chunk; off += BLOCK) b.writeUInt32LE((at + off) / BLOCK, off)
        ps.push(f.write(b, 0, chunk, at))
      })
      await Promise.all(ps)
    }
    await f.datasync()
  } finally {
    await f.close()
    await ctx.close()
  }
  return now() - t0
}

interface DepthResult {
  depth: number
  iops: number
  mbps: number
  p50: number
  checked: number
  bad: number
}

async function readAtDepth(file: string, depth: number): Promise<DepthResult> {
  const ctx = new IoContext({ maxInFlight: depth, entries: Math.max(depth, 8) })
  const f = await open(file, 'r', { context: ctx })
  const blocks = FILE_SIZE / BLOCK
  let done = 0
  let bad = 0
  let seed = 0x9e3779b9 ^ depth
  const rand = (): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % blocks
  }
  const end = now() + DEPTH_MS
  const t0 = now()
  const worker = async (): Promise<void> => {
    const b = allocAligned(BLOCK)
    while (now() < end) {
      const blk = rand()
      await f.read(b, 0, BLOCK, blk * BLOCK)
      if (b.readUInt32LE(0) !== blk) bad++
      done++
    }
  }
  await Promise.all(Array.from({ length: depth }, worker))
  const secs = (now() - t0) / 1000
  const lat = ctx.stats().latency.p50
  await f.close()
  await ctx.close()
  return { depth, iops: done / secs, mbps: (done * BLOCK) / secs / 1e6, p50: lat, checked: done, bad }
}

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

async function child(json: string): Promise<number> {
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

async function throttledAbort(log: (s: string) => void, register: (fn: () => void) => void): Promise<boolean> {
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

async function plainAbort(log: (s: string) => void, file: string): Promise<void> {
  log(`${ABORT_N} random 4 KiB reads of the scratch file are queued at once and aborted as soon as the first completes,`)
  log(`once with direct-aio's queue ('auto' depth) and once with all of them in the kernel (maxInFlight ${ABORT_N}).`)
  log('This disk is fast, so the kernel-only run finishes most reads before the abort can matter; as root, the demo uses a')
  log('throttled loop device where the difference shows in the device counters.')
  log('')
  const cols: Array<{ title: string; r: AbortReport; deviceReads: number | null }> = []
  for (const [title, maxInFlight] of [["direct-aio 'auto'", 'auto'], [`kernel only (${ABORT_N} in flight)`, ABORT_N]] as const) {
    const r = await abortRun({ path: file, size: FILE_SIZE, n: ABORT_N, maxInFlight, entries: 512, abortAfterMs: 0 })
    cols.push({ title, r, deviceReads: null })
  }
  abortTable(log, cols)
}

// ---------------------------------------------------------------------------

export async function demo(argv: string[]): Promise<number> {
  if (argv[0] === '--child') return child(argv[1])
  if (argv.length > 0 && argv[0] !== '') {
    process.stderr.write('usage: direct-aio demo\n(set DIRECT_AIO_DEMO_DIR to choose where the scratch file goes)\n')
    return argv[0] === '-h' || argv[0] === '--help' ? 0 : 1
  }
  // If stdout goes away (`| head`), keep going quietly so cleanup still runs.
  let quiet = false
  const onStdoutError = (): void => {
    quiet = true
  }
  process.stdout.on('error', onStdoutError)
  const log = (s: string): void => {
    if (!quiet) process.stdout.write(s + '\n')
  }
  const cleanups: Array<() => void> = []
  const cleanup = (): void => {
    while (cleanups.length) {
      try {
        cleanups.pop()!()
      } catch {
        // best effort
      }
    }
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup()
    process.kill(process.pid, sig)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const t0 = now()
  try {
    const probe = new IoContext({ entries: 4 })
    const backend = probe.backend
    await probe.close()
    log(`direct-aio demo (Linux ${os.release()}, backend ${backend})`)
    log('')
    const base = await pickDir(log)
    const dir = fs.mkdtempSync(path.join(base, 'direct-aio-demo-'))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'scratch.bin')
    const writeMs = await writeScratch(file)
    log(`Wrote ${file} (${FILE_SIZE / MiB} MiB) with O_DIRECT in ${(writeMs / 1000).toFixed(2)} s (${(FILE_SIZE / 1e6 / (writeMs / 1000)).toFixed(0)} MB/s).`)
    log('')
    log(`Random 4 KiB O_DIRECT reads of it, ${DEPTH_MS} ms at each queue depth (every block checked):`)
    log(`${pad('depth', 6)}${pad('IOPS', 10)}${pad('MB/s', 9)}${pad('p50 ms', 9)}`)
    let bad = 0
    for (const depth of DEPTHS) {
      const r = await readAtDepth(file, depth)
      bad += r.bad
      log(`${pad(depth, 6)}${pad(Math.round(r.iops).toLocaleString('en-US'), 10)}${pad(r.mbps.toFixed(1), 9)}${pad(r.p50.toFixed(3), 9)}`)
    }
    if (bad > 0) log(`!! ${bad} reads returned the wrong block`)
    log('')
    log('Cancellation:')
    const throttled = await throttledAbort(log, (fn) => cleanups.push(fn))
    if (!throttled) await plainAbort(log, file)
    log('')
    cleanup()
    log(`Removed the scratch file${throttled ? ', the loop device and the cgroup' : ''}. Done in ${((now() - t0) / 1000).toFixed(1)} s.`)
    return bad > 0 ? 1 : 0
  } finally {
    cleanup()
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    process.stdout.removeListener('error', onStdoutError)
  }
}
