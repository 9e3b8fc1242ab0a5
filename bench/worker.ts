// One measured run in a fresh process: a closed loop of `depth` outstanding
// I/Os against the data file, through direct-aio or fs.promises, warmed up,
// then measured over a fixed window. Prints one RunResult as JSON.
//
// Usage (the orchestrator does this): node worker.js '<WorkerConfig JSON>'
// The fs.promises contender never loads direct-aio: its aligned buffers come
// from WebAssembly.Memory, which is page-aligned.
import * as fs from 'node:fs'
import { readCpuTicks } from './machine'
import { pageAlignedBuffers } from './pagemem'
import { percentileSorted } from './summary'
import type { RunResult, WorkerConfig } from './types'

interface Handle {
  read(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesRead: number }>
  write(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesWritten: number }>
  close(): Promise<void>
}

/** xorshift32: cheap, seeded, identical across contenders. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as WorkerConfig
  const { workload: w, contender: c } = cfg
  const write = w.op === 'randwrite' || w.op === 'randrw'
  let handle: Handle
  let bufs: Buffer[]
  let finish: () => Promise<Record<string, unknown>>
  if (c.kind === 'direct-aio') {
    const dio = await import('../lib/index')
    const ctx = new dio.IoContext({ backend: c.backend, maxInFlight: cfg.maxInFlight ?? 'auto', entries: cfg.entries })
    const fh = await dio.open(cfg.path, write ? 'r+' : 'r', { context: ctx })
    handle = fh as unknown as Handle
    bufs = []
    for (let i = 0; i < w.depth; i++) bufs.push(dio.allocAligned(w.bs, 4096))
    // 'auto': where the depth controller goes over the run (sampled every
    // 200 ms, kept only on change), to explain its IOPS.
    const depthTrace: Array<[number, number]> = []
    const traceStart = performance.now()
    const tracer =
      cfg.maxInFlight === 'auto'
        ? setInterval(() => {
            const lim = Object.values(ctx.stats().depth.limits)[0]
            if (lim !== undefined && (depthTrace.length === 0 || depthTrace[depthTrace.length - 1][1] !== lim)) depthTrace.push([Math.round(performance.now() - traceStart), lim])
          }, 200)
        : null
    finish = async () => {
      if (tracer) clearInterval(tracer)
      const s = ctx.stats()
      await fh.close()
      await ctx.close()
      return { backend: ctx.backend, peakDepth: s.depth.peak, finalLimits: s.depth.limits, failed: s.requests.failed, ...(tracer ? { depthTrace } : {}) }
    }
  } else {
    const { O_DIRECT, O_RDONLY, O_RDWR } = fs.constants
    const fh = await fs.promises.open(cfg.path, (write ? O_RDWR : O_RDONLY) | O_DIRECT)
    handle = fh as unknown as Handle
    bufs = pageAlignedBuffers(w.depth, w.bs)
    finish = async () => {
      await fh.close()
      return { uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? 'default (4)', uvUseIoUring: process.env.UV_USE_IO_URING ?? 'unset' }
    }
  }
  if (write) for (const b of bufs) require('node:crypto').randomFillSync(b)

  const rand = rng(cfg.seed)
  const blocks = Math.floor(cfg.fileSize / w.bs)
  let seqCursor = Math.floor(blocks / 2) // seq readers share one cursor
  const readPct = w.op === 'randrw' ? (w.readPct ?? 70) : w.op === 'randwrite' ? 0 : 100

  const cap = 4 << 20
  const lat = new Float64Array(cap)
  let nlat = 0
  let ops = 0
  let bytes = 0
  let errors = 0
  let allOps = 0
  let measuring = false
  let stopped = false

  const slot = async (buf: Buffer): Promise<void> => {
    const bs = w.bs
    while (!stopped) {
      let pos: number
      if (w.op === 'seqread') {
        pos = seqCursor * bs
        seqCursor = (seqCursor + 1) % blocks
      } else {
        pos = (rand() % blocks) * bs
      }
      const isRead = readPct === 100 || (readPct > 0 && rand() % 100 < readPct)
      const t0 = performance.now()
      const n = isRead ? (await handle.read(buf, 0, bs, pos)).bytesRead : (await handle.write(buf, 0, bs, pos)).bytesWritten
      const t1 = performance.now()
      if (n !== bs) errors++
      allOps++
      if (measuring) {
        if (nlat < cap) lat[nlat++] = t1 - t0
        ops++
        bytes += n
      }
    }
  }

  let cpu0 = process.cpuUsage()
  let ticks0 = readCpuTicks()
  let t0 = 0
  let cpuDelta = { user: 0, system: 0 }
  let ticks1 = ticks0
  let elapsed = 0
  // Wall-clock bounds of the measured window (epoch ms), so a tracer of this
  // process (bench/app-loop.ts: strace -ttt) can count only its system calls.
  let windowEpoch: [number, number] = [0, 0]
  const window = new Promise<void>((resolve) => {
    setTimeout(() => {
      t0 = performance.now()
      cpu0 = process.cpuUsage()
      ticks0 = readCpuTicks()
      measuring = true
      windowEpoch[0] = performance.timeOrigin + t0
      setTimeout(() => {
        measuring = false
        windowEpoch[1] = performance.timeOrigin + performance.now()
        cpuDelta = process.cpuUsage(cpu0)
        ticks1 = readCpuTicks()
        elapsed = performance.now() - t0
        stopped = true
        resolve()
      }, cfg.measureMs)
    }, cfg.warmupMs)
  })
  let failure: unknown = null
  const loops = bufs.map((b) => slot(b).catch((e) => {
    failure ??= e
    stopped = true
  }))
  await window
  await Promise.all(loops)
  const extra = await finish()

  const sorted = lat.subarray(0, nlat).sort()
  let sum = 0
  for (let i = 0; i < nlat; i++) sum += sorted[i]
  const us = (ms: number) => Math.round(ms * 1000 * 10) / 10
  const clk = Number(process.env.BENCH_CLK_TCK) || 100
  const busySec = (ticks1.busy - ticks0.busy) / clk
  const irqSec = (ticks1.irq - ticks0.irq) / clk
  const totalSec = (ticks1.total - ticks0.total) / clk
  const cores = require('node:os').cpus().length as number
  const result: RunResult = {
    contender: c.key,
    workload: w.key,
    round: -1,
    ok: failure === null && ops > 0,
    error: failure ? String((failure as Error).stack ?? failure) : ops === 0 ? 'no I/O completed in the window' : undefined,
    ops,
    bytes,
    elapsedMs: elapsed,
    iops: (ops * 1000) / elapsed,
    mbps: bytes / 1e6 / (elapsed / 1000),
    lat: {
      p50: us(percentileSorted(sorted, 50)),
      p99: us(percentileSorted(sorted, 99)),
      p999: us(percentileSorted(sorted, 99.9)),
      mean: us(nlat ? sum / nlat : NaN),
      max: us(nlat ? sorted[nlat - 1] : NaN),
    },
    cpuProcUs: ops ? (cpuDelta.user + cpuDelta.system) / ops : NaN,
    cpuProcIrqUs: ops ? (cpuDelta.user + cpuDelta.system + irqSec * 1e6) / ops : NaN,
    cpuMachineUs: ops ? (busySec * 1e6) / ops : NaN,
    machineBusyCores: totalSec > 0 ? (busySec / totalSec) * cores : NaN,
    otherCores: totalSec > 0 ? ((busySec - irqSec) / totalSec) * cores - (cpuDelta.user + cpuDelta.system) / 1000 / elapsed : NaN,
    errors,
    extra: { ...extra, allOps, windowEpoch, node: process.version },
  }
  process.stdout.write(JSON.stringify(result))
}

main().catch((e) => {
  process.stderr.write(String((e as Error).stack ?? e))
  process.exit(1)
})
