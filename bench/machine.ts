// Facts about the machine a result came from, and whole-machine CPU time
// from /proc/stat (kernel work for I/O lands outside the process: interrupts,
// softirqs, block-layer completions on another core).
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

/** Aggregate CPU counters from the first line of /proc/stat, in USER_HZ ticks. */
export interface CpuTicks {
  /** user+nice+system+irq+softirq (steal excluded: the hypervisor's, not ours). */
  busy: number
  /** irq+softirq: I/O completion work that runs in no process's account. */
  irq: number
  total: number
}

export function readCpuTicks(): CpuTicks {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f
  // guest time is already included in user/nice
  const busy = user + nice + system + irq + softirq
  return { busy, irq: irq + softirq, total: busy + idle + (iowait || 0) + (steal || 0) }
}

export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    if (Number.isInteger(n) && n > 0) return n
  } catch {
    // no getconf
  }
  return 100
}

function readTrim(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim()
  } catch {
    return null
  }
}

export interface DiskInfo {
  name: string
  description: string
  sizeGiB: number | null
  rotational: string | null
  scheduler: string | null
  nrRequests: number | null
  maxSectorsKb: number | null
}

/** The whole-disk block device that holds `dir`, described from /sys. */
export function diskOf(dir: string): DiskInfo | null {
  let st: fs.Stats
  try {
    st = fs.statSync(dir)
  } catch {
    return null
  }
  const hi = Math.floor(st.dev / 0x100000000)
  const lo = st.dev >>> 0
  const major = ((lo >>> 8) & 0xfff) | (hi & 0xfffff000)
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00)
  let sys: string
  try {
    sys = fs.realpathSync(`/sys/dev/block/${major}:${minor}`)
  } catch {
    return null
  }
  if (fs.existsSync(path.join(sys, 'partition'))) sys = path.dirname(sys)
  const name = path.basename(sys)
  const model = readTrim(path.join(sys, 'device/model'))
  const vendor = readTrim(path.join(sys, 'device/vendor'))
  let driver: string | null = null
  try {
    driver = path.basename(fs.readlinkSync(path.join(sys, 'device/driver')))
  } catch {
    // no driver link (virtual device)
  }
  const parts = [model, driver, vendor ? `vendor ${vendor}` : null].filter(Boolean)
  const sectors = Number(readTrim(path.join(sys, 'size')))
  const sched = readTrim(path.join(sys, 'queue/scheduler'))
  return {
    name,
    description: parts.length > 0 ? parts.join(', ') : 'unknown model',
    sizeGiB: Number.isFinite(sectors) ? Math.round((sectors * 512) / 2 ** 30) : null,
    rotational: readTrim(path.join(sys, 'queue/rotational')),
    scheduler: sched ? (/\[(.*?)\]/.exec(sched)?.[1] ?? sched) : null,
    nrRequests: Number(readTrim(path.join(sys, 'queue/nr_requests'))) || null,
    maxSectorsKb: Number(readTrim(path.join(sys, 'queue/max_sectors_kb'))) || null,
  }
}

export interface MachineInfo {
  host: string
  cores: number
  cpuModel: string
  kernel: string
  node: string
  memGiB: number
  disk: DiskInfo | null
  filesystem: string | null
  fio: string | null
  loadAvgStart: number[]
  clkTck: number
}

function filesystemOf(dir: string): string | null {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '--target', dir], { encoding: 'utf8' }).trim().replace(/\s+/, ' on ')
  } catch {
    return null
  }
}

export function fioVersion(): string | null {
  try {
    return execFileSync('fio', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

export function machineInfo(dir: string): MachineInfo {
  return {
    host: os.hostname(),
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    disk: diskOf(dir),
    filesystem: filesystemOf(dir),
    fio: fioVersion(),
    loadAvgStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    clkTck: clockTicksPerSecond(),
  }
}

/** One line naming the machine, for the results' header. */
export function describeMachine(m: MachineInfo): string {
  const d = m.disk
  const disk = d ? `${d.name} (${d.description}${d.sizeGiB ? `, ${d.sizeGiB} GiB` : ''}, scheduler ${d.scheduler ?? '?'}, nr_requests ${d.nrRequests ?? '?'})` : 'unknown disk'
  return `${m.cores} × ${m.cpuModel}, ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, disk ${disk}${m.filesystem ? `, ${m.filesystem}` : ''}${m.fio ? `, ${m.fio}` : ', fio not installed'}`
}
