// `npm run bench [-- --quick] [--dir DIR] ...`: direct-aio against
// fs.promises and fio on the same files in the same run, then the
// cancellation benchmark on a throttled loop device (root). Reports; never
// fails on a figure. See bench/README.md.
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { compileChildren, type Compiled } from './compile'
import { chooseDir, ensureDataFile } from './datafile'
import { runFio } from './fio'
import { describeMachine, machineInfo, readCpuTicks, type MachineInfo } from './machine'
import {
  aggregate,
  aggregateCancel,
  cancelChart,
  evaluateTargets,
  iopsChart,
  markdown,
  targetsText,
  type BenchOutput,
  type CancelRun,
} from './report'
import { fmt } from './summary'
import { ALL_CONTENDERS, ALL_WORKLOADS, QUICK_WORKLOADS, childEnv, workerConfig } from './matrix'
import type { CancelChildResult, CancelConfig, Contender, RunResult, Workload } from './types'

const ROOT = path.join(__dirname, '..')
const GiB = 1 << 30

const USAGE = `usage: npm run bench -- [options]

  --app-loop            the application-shaped benchmark (await loops, default context, fio ceiling): see bench/app-loop.ts, --app-loop --help
  --quick               under 2 minutes: 4 KiB random reads at depth 1/32/128, short runs, one cancellation round
  --dir DIR             where the 1 GiB data files live (default: ${os.tmpdir()}; /var/tmp if DIR refuses O_DIRECT)
  --rounds N            rounds per workload (default 3)
  --warmup MS           warm-up per run (quick 150, full 500)
  --measure MS          measured window per run (quick 500, full 2500)
  --workloads a,b       only these workload keys (see below)
  --contenders a,b      only these contender keys (see below)
  --wait-quiet CORES    before each round, wait (up to 30 s) until other tenants use less than CORES cores
  --no-fio              skip fio even if installed
  --no-cancel           skip the cancellation benchmark
  --cancel-only         run only the cancellation benchmark
  --out DIR             results directory (default bench/results)
  --render FILE.json    rebuild the Markdown, charts and targets of a saved run (no measuring)
  --help

workloads:   ${'randread-4k-d1 randread-4k-d32 randread-4k-d128 randwrite-4k-d32 seqread-1m-d8 randrw70-4k-d32'}
contenders:  direct-aio-io_uring direct-aio-libaio direct-aio-threadpool direct-aio-io_uring-auto fs.promises fs.promises-uv-io_uring fio-io_uring fio-libaio

fio is optional: apt-get install fio (Debian/Ubuntu) or dnf install fio.
`

interface Options {
  quick: boolean
  dir?: string
  rounds: number
  warmupMs: number
  measureMs: number
  workloads?: string[]
  contenders?: string[]
  fio: boolean
  cancel: boolean
  perf: boolean
  waitQuiet: number | null
  render?: string
  out: string
}

function parseArgs(argv: string[]): Options | null {
  const o: Partial<Options> & { fio: boolean; cancel: boolean; perf: boolean } = { fio: true, cancel: true, perf: true, quick: false }
  const need = (i: number) => {
    if (i >= argv.length) throw new Error(`${argv[i - 1]} needs a value`)
    return argv[i]
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    switch (a) {
      case '--quick':
        o.quick = true
        break
      case '--dir':
        o.dir = need(++i)
        break
      case '--rounds':
        o.rounds = Number(need(++i))
        break
      case '--warmup':
        o.warmupMs = Number(need(++i))
        break
      case '--measure':
        o.measureMs = Number(need(++i))
        break
      case '--workloads':
        o.workloads = need(++i).split(',')
        break
      case '--contenders':
        o.contenders = need(++i).split(',')
        break
      case '--no-fio':
        o.fio = false
        break
      case '--no-cancel':
        o.cancel = false
        break
      case '--render':
        o.render = need(++i)
        break
      case '--wait-quiet':
        o.waitQuiet = Number(need(++i))
        break
      case '--cancel-only':
        o.perf = false
        break
      case '--out':
        o.out = need(++i)
        break
      case '-h':
      case '--help':
        return null
      default:
        throw new Error(`unknown option ${a}`)
    }
  }
  return {
    quick: o.quick!,
    dir: o.dir,
    rounds: o.rounds ?? 3,
    warmupMs: o.warmupMs ?? (o.quick ? 150 : 500),
    measureMs: o.measureMs ?? (o.quick ? 500 : 2500),
    workloads: o.workloads,
    contenders: o.contenders,
    fio: o.fio,
    cancel: o.cancel,
    perf: o.perf,
    waitQuiet: o.waitQuiet ?? null,
    render: o.render,
    out: path.resolve(o.out ?? path.join(ROOT, 'bench', 'results')),
  }
}

function runNode(script: string, arg: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, arg], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

function failedRun(c: Contender, w: Workload, round: number, error: string): RunResult {
  return {
    contender: c.key,
    workload: w.key,
    round,
    ok: false,
    error,
    ops: 0,
    bytes: 0,
    elapsedMs: 0,
    iops: NaN,
    mbps: NaN,
    lat: { p50: NaN, p99: NaN, p999: NaN, mean: NaN, max: NaN },
    cpuProcUs: NaN,
    cpuProcIrqUs: NaN,
    cpuMachineUs: NaN,
    machineBusyCores: NaN,
    otherCores: NaN,
    errors: 0,
  }
}

async function runOne(c: Contender, w: Workload, round: number, seed: number, file: string, o: Options, compiled: Compiled, m: MachineInfo): Promise<RunResult> {
  if (c.kind === 'fio') {
    const r = await runFio(c.backend as 'io_uring' | 'libaio', w, file, GiB, o.warmupMs, o.measureMs, m.clkTck, m.cores)
    return { ...r, contender: c.key, round }
  }
  const cfg = workerConfig(c, w, file, GiB, o.warmupMs, o.measureMs, seed)
  const r = await runNode(compiled.worker, JSON.stringify(cfg), childEnv(c.env, m.clkTck), o.warmupMs + o.measureMs + 60000)
  if (r.code !== 0) return failedRun(c, w, round, `exit ${r.code}: ${r.stderr.trim().slice(0, 800)}`)
  try {
    const res = JSON.parse(r.stdout) as RunResult
    return { ...res, round }
  } catch (e) {
    return failedRun(c, w, round, `bad output: ${(e as Error).message}: ${r.stdout.slice(0, 200)}`)
  }
}

interface CancelPlan {
  label: string
  backend: 'io_uring' | 'libaio' | 'threadpool'
  maxInFlight: number | 'auto'
  entries: number
}

async function runCancel(o: Options, compiled: Compiled, log: (s: string) => void): Promise<BenchOutput['cancel']> {
  const settings = { n: 1000, bs: 4096, spacing: 64 * 1024, readIops: 100, abortAfterMs: 1000, rounds: o.quick ? 1 : 3, deviceMiB: 64 }
  const { congestUnsupported, CongestedDevice } = await import('../cli/tools/congest')
  const why = congestUnsupported()
  if (why) return { skipped: `cancellation benchmark skipped: ${why}`, settings, runs: [], aggregates: [], notes: [] }
  const { capabilities } = await import('../lib/index')
  const caps = capabilities()
  const plans: CancelPlan[] = []
  if (caps.ioUring.available) {
    plans.push({ label: "io_uring 'auto'", backend: 'io_uring', maxInFlight: 'auto', entries: 1024 })
    for (const d of [8, 64, 1000]) plans.push({ label: `io_uring fixed ${d}`, backend: 'io_uring', maxInFlight: d, entries: 1024 })
  }
  if (caps.libaio.available) plans.push({ label: "libaio 'auto'", backend: 'libaio', maxInFlight: 'auto', entries: 1024 })
  plans.push({ label: "threadpool 'auto'", backend: 'threadpool', maxInFlight: 'auto', entries: 1024 })

  const runs: CancelRun[] = []
  log(`cancellation: building a ${settings.deviceMiB} MiB loop device throttled to ${settings.readIops} read IOPS`)
  const dev = CongestedDevice.create({ sizeMiB: settings.deviceMiB, readIops: settings.readIops, writeIops: 0 })
  // A second node for the loop device on a disk filesystem: the children
  // open /dev/loopN first and use this only if that is refused with EINVAL
  // (an earlier open() took devtmpfs for tmpfs); the report says so if used.
  const node = path.join('/var/tmp', `direct-aio-bench-${dev.name}-${process.pid}`)
  let notes: string[] = []
  try {
    const [maj, min] = dev.majmin.split(':')
    execFileSync('mknod', [node, 'b', maj, min])
  } catch {
    // no fallback node
  }
  try {
    const statPath = `/sys/block/${dev.name}/stat`
    for (let round = 0; round < settings.rounds; round++) {
      for (const p of plans) {
        const start = (await dev.settle(200, 20000)).readsCompleted
        const cfg: CancelConfig = {
          label: p.label,
          path: dev.loop,
          fallbackPath: fs.existsSync(node) ? node : undefined,
          deviceSize: dev.sizeBytes,
          statPath,
          n: settings.n,
          bs: settings.bs,
          spacing: settings.spacing,
          abortAfterMs: settings.abortAfterMs,
          backend: p.backend,
          maxInFlight: p.maxInFlight,
          entries: p.entries,
        }
        const r = await dev.run(compiled.cancelWorker, [JSON.stringify(cfg)], { env: childEnv({}, 100), timeoutMs: 90000 })
        const end = (await dev.settle(300, 30000)).readsCompleted
        const base: CancelRun = { label: p.label, backend: p.backend, maxInFlight: p.maxInFlight, round, ok: false, readsBeforeAbort: NaN, readsAfterAbort: NaN, notYetAtDevice: NaN, saved: NaN, savedFraction: NaN }
        if (r.code !== 0) {
          runs.push({ ...base, error: `exit ${r.code} ${r.signal ?? ''}: ${r.stderr.trim().slice(0, 800)}` })
          log(`  r${round + 1} ${p.label}: FAILED (exit ${r.code}, signal ${r.signal}): ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
          continue
        }
        let child: CancelChildResult
        try {
          child = JSON.parse(r.stdout) as CancelChildResult
        } catch (e) {
          runs.push({ ...base, error: `bad output: ${(e as Error).message}` })
          continue
        }
        if (child.openError && !notes.length) {
          notes = [`open('${dev.loop}') was refused (${child.openError}); the cancellation children opened an equivalent device node on ext4, ${node}. This is a direct-aio bug: device nodes live on devtmpfs.`]
          log(`  note: ${notes[0]}`)
        }
        const before = child.deviceReadsAtAbortAbs - start
        const after = end - child.deviceReadsAtAbortAbs
        const notYet = settings.n - before
        const saved = settings.n - (end - start)
        const run: CancelRun = { ...base, ok: child.errors === 0, error: child.errors ? `${child.errors} reads failed` : undefined, child, readsBeforeAbort: before, readsAfterAbort: after, notYetAtDevice: notYet, saved, savedFraction: notYet > 0 ? saved / notYet : NaN }
        runs.push(run)
        log(
          `  r${round + 1} ${p.label.padEnd(20)} in kernel at abort ${String(child.inKernelAtAbort).padStart(4)}, device reads before/after abort ${before}/${after}, saved ${saved} (${fmt(run.savedFraction * 100)}%), settle p99 ${fmt(child.settleAllMs.p99)} ms (queued ${fmt(child.settleQueuedMs.p99)} ms), loop delay max ${fmt(child.loopDelayMaxMs)} ms, CPU in abort() ${fmt(child.abortCpuMs)} ms`,
        )
      }
    }
  } finally {
    fs.rmSync(node, { force: true })
    dev.destroy()
  }
  return { skipped: null, settings: { ...settings, plans }, runs, aggregates: aggregateCancel(runs), notes }
}

/** Busy cores on the machine over `ms` while this process sleeps. */
async function sampleLoad(ms: number, cores: number): Promise<number> {
  const a = readCpuTicks()
  await new Promise((r) => setTimeout(r, ms))
  const b = readCpuTicks()
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cores
}

/** Wait until the other tenants leave the machine mostly idle, or `maxMs` passes. Returns the last load seen. */
async function waitQuiet(threshold: number, maxMs: number, cores: number): Promise<{ load: number; waitedMs: number }> {
  const t0 = Date.now()
  let load = await sampleLoad(300, cores)
  while (load >= threshold && Date.now() - t0 < maxMs) load = await sampleLoad(300, cores)
  return { load, waitedMs: Date.now() - t0 }
}

/** Write the JSON, the Markdown, the charts and (full mode) LATEST.md; print the targets. */
function writeOutputs(out: BenchOutput, dir: string, log: (s: string) => void): void {
  fs.mkdirSync(dir, { recursive: true })
  const date = out.date.slice(0, 10)
  const quick = out.mode === 'quick'
  const suffix = quick ? '-quick' : ''
  const stem = `${date}-${out.machine.host}${suffix}`
  const chartIops = `iops-vs-depth${suffix}.svg`
  const chartCancel = `cancel-saved${suffix}.svg`
  fs.writeFileSync(path.join(dir, chartIops), iopsChart(out))
  const cc = cancelChart(out)
  if (cc) fs.writeFileSync(path.join(dir, chartCancel), cc)
  const md = markdown(out, { iops: chartIops, cancel: cc ? chartCancel : null })
  fs.writeFileSync(path.join(dir, `${stem}.json`), JSON.stringify(out, null, 1) + '\n')
  fs.writeFileSync(path.join(dir, `${stem}.md`), md)
  if (!quick) fs.writeFileSync(path.join(dir, 'LATEST.md'), md.replace(/^# .*$/m, `# Latest benchmark results (${date}, ${out.machine.host})`))
  log('\n== targets ==')
  log(targetsText(out.targets))
  log(`\nwrote ${path.join(dir, stem)}.{json,md}, ${chartIops}${cc ? `, ${chartCancel}` : ''}${quick ? '' : ', LATEST.md'} (run took ${Math.round(out.durationSec)} s)`)
}

/** `--render FILE.json`: rebuild aggregates, targets, Markdown and charts from a saved run (after a change to the report code). */
function render(file: string, outDir: string): number {
  const out = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchOutput
  const aggs = aggregate(out.runs, out.workloads, out.contenders)
  const cancelAggs = out.cancel.skipped ? [] : aggregateCancel(out.cancel.runs)
  const notes = [...out.notes]
  const wq = out.settings.waitQuiet
  if (typeof wq === 'number' && !notes.some((n) => n.includes('--wait-quiet'))) {
    notes.unshift(`Before each round the benchmark waited (up to 30 s) for the other tenants to drop below ${wq} busy cores (--wait-quiet).`)
  }
  const rendered: BenchOutput = {
    ...out,
    notes,
    aggregates: aggs,
    cancel: { ...out.cancel, aggregates: cancelAggs },
    targets: evaluateTargets(aggs, out.cancel.skipped ? null : cancelAggs, out.cancel.skipped),
  }
  writeOutputs(rendered, outDir, (s) => process.stdout.write(`${s}\n`))
  return 0
}

async function main(): Promise<number> {
  if (process.argv.includes('--app-loop')) return (await import('./app-loop')).appLoop(process.argv.slice(2))
  let o: Options | null
  try {
    o = parseArgs(process.argv.slice(2))
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`)
    return 2
  }
  if (!o) {
    process.stdout.write(USAGE)
    return 0
  }
  if (o.render) return render(o.render, o.out)
  const t0 = Date.now()
  const log = (s: string) => process.stdout.write(`${s}\n`)
  const notes: string[] = []
  const { dir, note } = chooseDir(o.dir)
  if (note) {
    notes.push(note)
    log(`note: ${note}`)
  }
  const m = machineInfo(dir)
  log(`machine: ${describeMachine(m)}`)

  const { capabilities } = await import('../lib/index')
  const caps = capabilities()
  let workloads = ALL_WORKLOADS.filter((w) => o!.perf && (o!.workloads ? o!.workloads.includes(w.key) : o!.quick ? QUICK_WORKLOADS.includes(w.key) : true))
  if (o.workloads) {
    const unknown = o.workloads.filter((k) => !ALL_WORKLOADS.some((w) => w.key === k))
    if (unknown.length) throw new Error(`unknown workload(s): ${unknown.join(', ')}`)
  }
  let contenders = ALL_CONTENDERS.filter((c) => !o!.contenders || o!.contenders.includes(c.key))
  const drop = (pred: (c: Contender) => boolean, why: string) => {
    const gone = contenders.filter(pred)
    if (gone.length === 0) return
    contenders = contenders.filter((c) => !pred(c))
    const msg = `skipped ${gone.map((c) => c.label).join(', ')}: ${why}`
    notes.push(msg)
    log(`note: ${msg}`)
  }
  drop((c) => c.kind === 'direct-aio' && c.backend === 'io_uring' && !caps.ioUring.available, `io_uring unavailable (${caps.ioUring.reason})`)
  drop((c) => c.kind === 'direct-aio' && c.backend === 'libaio' && !caps.libaio.available, `libaio unavailable (${caps.libaio.reason})`)
  if (!o.fio) drop((c) => c.kind === 'fio', '--no-fio')
  else if (!m.fio) drop((c) => c.kind === 'fio', 'fio is not installed (apt-get install fio); ratios to fio are left empty')
  if (o.quick) notes.push(`quick mode: ${workloads.length} workloads, ${o.rounds} rounds, ${o.warmupMs} ms warm-up + ${o.measureMs} ms per run; run without --quick for the full set`)
  if (o.waitQuiet !== null) notes.push(`Before each round the benchmark waited (up to 30 s) for the other tenants to drop below ${o.waitQuiet} busy cores (--wait-quiet).`)
  notes.push('The machine is shared (other jobs may run on its cores during the benchmark), so whole-machine CPU and, to a lesser degree, IOPS are noisy; the busy-core figures in the JSON show the load in each window.')

  const readFile = ensureDataFile(dir, 'direct-aio-bench-read.dat', GiB, log)
  const writeFile = workloads.some((w) => w.file === 'write') ? ensureDataFile(dir, 'direct-aio-bench-write.dat', GiB, log) : null
  if (readFile.created) notes.push(`created ${readFile.path} in ${readFile.seconds.toFixed(1)} s`)

  // Whole-machine load before we start: what the other tenants use.
  const background = await sampleLoad(500, m.cores)
  notes.push(`Background load before the run: ${background.toFixed(2)} busy cores of ${m.cores}.`)
  log(`background load: ${background.toFixed(2)} busy cores of ${m.cores}`)

  log('transpiling lib/ and the child scripts')
  const compiled = compileChildren()
  const runs: RunResult[] = []
  let cancel: BenchOutput['cancel'] = { skipped: 'not run (--no-cancel)', settings: {}, runs: [], aggregates: [] }
  try {
    let seed = 1
    for (const w of workloads) {
      log(`\n== ${w.title} ==`)
      for (let round = 0; round < o.rounds; round++) {
        if (o.waitQuiet !== null) {
          const q = await waitQuiet(o.waitQuiet, 30000, m.cores)
          log(`  (waited ${(q.waitedMs / 1000).toFixed(1)} s for quiet: other load ${q.load.toFixed(2)} cores)`)
        }
        for (const c of contenders) {
          const file = w.file === 'write' ? writeFile!.path : readFile.path
          const r = await runOne(c, w, round, seed++ * 2654435761, file, o, compiled, m)
          runs.push(r)
          const head = w.bandwidth ? `${fmt(r.mbps)} MB/s` : `${fmt(r.iops)} IOPS`
          log(
            r.ok
              ? `  r${round + 1} ${c.label.padEnd(30)} ${head.padStart(12)}  p50 ${fmt(r.lat.p50).padStart(5)} p99 ${fmt(r.lat.p99).padStart(5)} p99.9 ${fmt(r.lat.p999).padStart(5)} µs  cpu/IO proc ${fmt(r.cpuProcUs).padStart(5)} +irq ${fmt(r.cpuProcIrqUs).padStart(5)} machine ${fmt(r.cpuMachineUs).padStart(5)} µs  others ${fmt(r.otherCores)} cores`
              : `  r${round + 1} ${c.label.padEnd(30)} FAILED: ${r.error?.split('\n')[0]}`,
          )
        }
      }
    }
    if (o.cancel) {
      log('\n== cancellation ==')
      cancel = await runCancel(o, compiled, log)
      if (cancel.skipped) {
        notes.push(cancel.skipped)
        log(`note: ${cancel.skipped}`)
      }
      notes.push(...(cancel.notes ?? []))
    }
  } finally {
    compiled.cleanup()
  }
  // Contenders that never ran (e.g. --contenders) are not listed.
  const aggs = aggregate(runs, workloads, contenders)
  workloads = workloads.filter((w) => aggs.some((a) => a.workload === w.key))
  const targets = evaluateTargets(aggs, cancel.skipped ? null : cancel.aggregates, cancel.skipped)
  const out: BenchOutput = {
    tool: 'direct-aio bench',
    date: new Date().toISOString(),
    mode: o.quick ? 'quick' : 'full',
    machine: { ...m, loadAvgStart: m.loadAvgStart },
    dir,
    notes,
    settings: { rounds: o.rounds, warmupMs: o.warmupMs, measureMs: o.measureMs, fileSize: GiB, uvThreadpoolSize: 'default (4)', waitQuiet: o.waitQuiet },
    workloads,
    contenders,
    runs,
    aggregates: aggs,
    cancel,
    targets,
    durationSec: (Date.now() - t0) / 1000,
  }
  writeOutputs(out, o.out, log)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`)
    process.exitCode = 1
  },
)
