// A congested block device on demand (root only): a file-backed loop device
// with --direct-io=on, throttled to N IOPS by a cgroup v1 blkio group. Used
// by the tests, the demo, the benchmarks and `doctor --probe-cancel`.
// blk-throttle releases bios in ~100 ms slices; throttled bios wait above the
// device, so count them with blkio.throttle.io_serviced (counts at
// submit_bio) or the device's stat (counts completions).
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

const BLKIO = '/sys/fs/cgroup/blkio'

export interface CongestOptions {
  /** Size of the backing file in MiB. Default 256. */
  sizeMiB?: number
  /** Read IOPS limit (0 = unthrottled). Default 50. */
  readIops?: number
  /** Write IOPS limit (0 = unthrottled). Default 50. */
  writeIops?: number
  /** Fill the backing file with random bytes (default) or zeros. */
  fill?: 'random' | 'zero'
  /** Directory for the backing file (must support O_DIRECT). Default /var/tmp. */
  dir?: string
  /** Device queue depth (queue/nr_requests) to congest the device queue itself. */
  nrRequests?: number
}

export interface DeviceCounters {
  readsCompleted: number
  sectorsRead: number
  writesCompleted: number
  sectorsWritten: number
}

/** Why a congested device cannot be built here, or null if it can. */
export function congestUnsupported(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (losetup and cgroup v1 blkio)'
  if (!fs.existsSync(`${BLKIO}/cgroup.procs`)) return `no cgroup v1 blkio controller at ${BLKIO}`
  if (!fs.existsSync(`${BLKIO}/blkio.throttle.read_iops_device`)) return 'blkio.throttle.* not available'
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore' })
  } catch {
    return 'losetup not found (apt-get install mount)'
  }
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control'
  return null
}

const live = new Set<CongestedDevice>()
let exitHooked = false

export class CongestedDevice {
  readonly loop: string
  readonly name: string
  readonly majmin: string
  readonly cgroup: string
  readonly image: string
  readonly sizeBytes: number
  private destroyed = false

  private constructor(loop: string, image: string, cgroup: string, sizeBytes: number) {
    this.loop = loop
    this.name = path.basename(loop)
    this.majmin = fs.readFileSync(`/sys/block/${this.name}/dev`, 'utf8').trim()
    this.cgroup = cgroup
    this.image = image
    this.sizeBytes = sizeBytes
  }

  static create(options: CongestOptions = {}): CongestedDevice {
    const why = congestUnsupported()
    if (why) throw new Error(`cannot build a congested device: ${why}`)
    sweepStale()
    const sizeMiB = options.sizeMiB ?? 256
    const dir = options.dir ?? '/var/tmp'
    const image = path.join(dir, `direct-aio-congest-${process.pid}-${Date.now()}.img`)
    const fd = fs.openSync(image, 'w')
    try {
      const chunk = Buffer.alloc(1 << 20)
      const crypto = require('node:crypto') as typeof import('node:crypto')
      for (let i = 0; i < sizeMiB; i++) {
        if ((options.fill ?? 'random') === 'random') crypto.randomFillSync(chunk)
        fs.writeSync(fd, chunk, 0, chunk.length, i * chunk.length)
      }
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    let loop: string
    try {
      loop = execFileSync('losetup', ['--find', '--show', '--direct-io=on', image], { encoding: 'utf8' }).trim()
    } catch (e) {
      fs.rmSync(image, { force: true })
      throw e
    }
    const cgroup = path.join(BLKIO, `direct-aio-${process.pid}-${Math.random().toString(36).slice(2, 8)}`)
    const dev = new CongestedDevice(loop, image, cgroup, sizeMiB << 20)
    live.add(dev)
    if (!exitHooked) {
      exitHooked = true
      process.on('exit', () => {
        for (const d of live) d.destroy()
      })
    }
    try {
      fs.mkdirSync(cgroup)
      dev.setIops(options.readIops ?? 50, options.writeIops ?? 50)
      // A reused loop device keeps the last user's nr_requests: reset it.
      dev.setNrRequests(options.nrRequests ?? defaultNrRequests())
    } catch (e) {
      dev.destroy()
      throw e
    }
    return dev
  }

  /** Set the throttle (0 removes it). */
  setIops(read: number, write: number): void {
    fs.writeFileSync(`${this.cgroup}/blkio.throttle.read_iops_device`, `${this.majmin} ${read}`)
    fs.writeFileSync(`${this.cgroup}/blkio.throttle.write_iops_device`, `${this.majmin} ${write}`)
  }

  setNrRequests(n: number): void {
    fs.writeFileSync(`/sys/block/${this.name}/queue/nr_requests`, String(n))
  }

  /** Completed I/O as the device counts it (/sys/block/loopN/stat). */
  counters(): DeviceCounters {
    const f = fs.readFileSync(`/sys/block/${this.name}/stat`, 'utf8').trim().split(/\s+/).map(Number)
    return { readsCompleted: f[0], sectorsRead: f[2], writesCompleted: f[4], sectorsWritten: f[6] }
  }

  /** Bios that passed the throttle (blkio.throttle.io_serviced), by direction. */
  serviced(): { read: number; write: number } {
    let read = 0
    let write = 0
    try {
      for (const line of fs.readFileSync(`${this.cgroup}/blkio.throttle.io_serviced`, 'utf8').split('\n')) {
        const [mm, op, n] = line.trim().split(/\s+/)
        if (mm !== this.majmin) continue
        if (op === 'Read') read = Number(n)
        if (op === 'Write') write = Number(n)
      }
    } catch {
      // group gone
    }
    return { read, write }
  }

  /** Wait until the device has been idle (no change in counters) for `quietMs`. */
  async settle(quietMs = 300, maxMs = 30000): Promise<DeviceCounters> {
    const end = Date.now() + maxMs
    let last = JSON.stringify(this.counters())
    let since = Date.now()
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50))
      const now = JSON.stringify(this.counters())
      if (now !== last) {
        last = now
        since = Date.now()
      } else if (Date.now() - since >= quietMs) break
    }
    return this.counters()
  }

  /**
   * Run `node script ...args` inside the throttled cgroup. Resolves with the
   * exit code and output; the child's stdout is expected to carry its report.
   */
  run(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeArgs?: string[] } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        'bash',
        ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.cgroup, process.execPath, ...(options.nodeArgs ?? []), script, ...args],
        { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120000)
      child.on('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, stdout, stderr })
      })
    })
  }

  /** Remove the cgroup, detach the loop device, delete the image. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    removeCgroup(this.cgroup)
    try {
      execFileSync('losetup', ['-d', this.loop], { stdio: 'ignore' })
    } catch {
      // already gone
    }
    fs.rmSync(this.image, { force: true })
  }
}

function defaultNrRequests(): number {
  try {
    const n = Number(fs.readFileSync('/sys/module/loop/parameters/hw_queue_depth', 'utf8').trim())
    if (Number.isInteger(n) && n > 0) return n
  } catch {
    // built without the parameter
  }
  return 128
}

function removeCgroup(cg: string): void {
  try {
    const procs = fs.readFileSync(`${cg}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)
    for (const pid of procs) {
      try {
        fs.writeFileSync(`${BLKIO}/cgroup.procs`, pid)
      } catch {
        // exited
      }
    }
  } catch {
    // no group
  }
  for (let i = 0; i < 50; i++) {
    try {
      fs.rmdirSync(cg)
      return
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      execFileSync('sleep', ['0.05'])
    }
  }
}

/** Remove groups and loop devices left behind by processes that died. */
function sweepStale(): void {
  try {
    for (const name of fs.readdirSync(BLKIO)) {
      const m = /^direct-aio-(\d+)-/.exec(name)
      if (!m) continue
      const pid = Number(m[1])
      let alive = true
      try {
        process.kill(pid, 0)
      } catch {
        alive = false
      }
      if (!alive) removeCgroup(path.join(BLKIO, name))
    }
  } catch {
    // no blkio
  }
  try {
    const out = execFileSync('losetup', ['-a'], { encoding: 'utf8' })
    for (const line of out.split('\n')) {
      const m = /^(\/dev\/loop\d+):.*\((.*direct-aio-congest-(\d+)-\d+\.img)/.exec(line)
      if (!m) continue
      let alive = true
      try {
        process.kill(Number(m[3]), 0)
      } catch {
        alive = false
      }
      if (!alive) {
        try {
          execFileSync('losetup', ['-d', m[1]], { stdio: 'ignore' })
        } catch {
          // busy
        }
        fs.rmSync(m[2].replace(/ \(deleted\)$/, ''), { force: true })
      }
    }
  } catch {
    // no losetup
  }
}
