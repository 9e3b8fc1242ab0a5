// fio as the reference contender: same file, same block size, depth and
// pattern, fio's default submission settings (no fixed buffers, no
// registered files, no SQPOLL, no batching options), so it is the plain
// "what the kernel can do from one process" line. Install: apt-get install fio.
//
// fio reports IOPS, latency and its own CPU after ramp_time. Whole-machine
// CPU is sampled from /proc/stat by this process on timers inside fio's
// measured window: [spawn + ramp + 100 ms, spawn + ramp + runtime - 50 ms]
// (fio starts in well under 100 ms), and divided by fio's IOPS.
import { spawn } from 'node:child_process'
import { readCpuTicks, type CpuTicks } from './machine'
import type { Latency, RunResult, Workload } from './types'

export function fioArgs(engine: 'io_uring' | 'libaio', w: Workload, path: string, fileSize: number, rampMs: number, runMs: number): string[] {
  const rw = w.op === 'seqread' ? 'read' : w.op
  const args = [
    `--name=${w.key}`,
    `--filename=${path}`,
    `--ioengine=${engine}`,
    '--direct=1',
    `--rw=${rw}`,
    `--bs=${w.bs}`,
    `--iodepth=${w.depth}`,
    `--size=${fileSize}`,
    '--time_based',
    `--ramp_time=${rampMs}ms`,
    `--runtime=${runMs}ms`,
    '--norandommap',
    '--randrepeat=0',
    '--lat_percentiles=1',
    '--clat_percentiles=0',
    '--percentile_list=50:99:99.9',
    '--output-format=json',
  ]
  if (w.op === 'randrw') args.push(`--rwmixread=${w.readPct ?? 70}`, '--unified_rw_reporting=mixed')
  return args
}

interface FioDir {
  io_bytes: number
  bw_bytes: number
  iops: number
  runtime: number
  total_ios: number
  lat_ns: { mean: number; max: number; percentile?: Record<string, number> }
}

export async function runFio(engine: 'io_uring' | 'libaio', w: Workload, path: string, fileSize: number, rampMs: number, runMs: number, clkTck: number, cores: number): Promise<RunResult> {
  const args = fioArgs(engine, w, path, fileSize, rampMs, runMs)
  const started = Date.now()
  let t0: CpuTicks | null = null
  let t1: CpuTicks | null = null
  let w0 = 0
  let w1 = 0
  const timers = [
    setTimeout(() => {
      t0 = readCpuTicks()
      w0 = performance.now()
    }, rampMs + 100),
    setTimeout(() => {
      t1 = readCpuTicks()
      w1 = performance.now()
    }, rampMs + runMs - 50),
  ]
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('fio', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }))
  })
  for (const t of timers) clearTimeout(t)
  const base: RunResult = {
    contender: '',
    workload: w.key,
    round: -1,
    ok: false,
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
  if (code !== 0) return { ...base, error: `fio exited with ${code}: ${stderr.trim().slice(0, 500)}` }
  let job: Record<string, unknown>
  try {
    const json = JSON.parse(stdout.slice(stdout.indexOf('{')))
    job = json.jobs[0]
  } catch (e) {
    return { ...base, error: `cannot parse fio output: ${(e as Error).message}` }
  }
  const dirs: FioDir[] = w.op === 'randrw' ? [job.mixed as FioDir] : [job[w.op === 'randwrite' ? 'write' : 'read'] as FioDir]
  const d = dirs[0]
  if (!d) return { ...base, error: 'fio output has no stats for this direction' }
  const runtimeMs = d.runtime
  const ops = d.total_ios
  const iops = runtimeMs > 0 ? (ops * 1000) / runtimeMs : NaN
  const p = d.lat_ns.percentile ?? {}
  const pick = (k: string) => (p[k] !== undefined ? Math.round(p[k] / 100) / 10 : NaN)
  const lat: Latency = { p50: pick('50.000000'), p99: pick('99.000000'), p999: pick('99.900000'), mean: Math.round(d.lat_ns.mean / 100) / 10, max: Math.round(d.lat_ns.max / 100) / 10 }
  const cpuPct = Number(job.usr_cpu) + Number(job.sys_cpu)
  let cpuMachineUs = NaN
  let irqUs = NaN
  let busyCores = NaN
  let otherCores = NaN
  if (t0 && t1 && w1 > w0) {
    const a = t0 as CpuTicks
    const b = t1 as CpuTicks
    const busySec = (b.busy - a.busy) / clkTck
    const totalSec = (b.total - a.total) / clkTck
    const windowSec = (w1 - w0) / 1000
    cpuMachineUs = (busySec * 1e6) / (iops * windowSec)
    irqUs = ((b.irq - a.irq) / clkTck * 1e6) / (iops * windowSec)
    busyCores = totalSec > 0 ? (busySec / totalSec) * cores : NaN
    otherCores = totalSec > 0 ? ((busySec - (b.irq - a.irq) / clkTck) / totalSec) * cores - cpuPct / 100 : NaN
  }
  return {
    ...base,
    ok: ops > 0,
    error: ops > 0 ? undefined : 'fio did no I/O',
    ops,
    bytes: d.io_bytes,
    elapsedMs: runtimeMs,
    iops,
    mbps: d.io_bytes / 1e6 / (runtimeMs / 1000),
    lat,
    cpuProcUs: (cpuPct / 100) * 1e6 / iops,
    cpuProcIrqUs: (cpuPct / 100) * 1e6 / iops + irqUs,
    cpuMachineUs,
    machineBusyCores: busyCores,
    otherCores,
    errors: Number(job.error) || 0,
    extra: { args: args.join(' '), wallMs: Date.now() - started, ctx: job.ctx },
  }
}
