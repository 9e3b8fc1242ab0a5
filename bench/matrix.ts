// The benchmark matrix: workloads, contenders, and how a (contender,
// workload) pair becomes a child process's configuration.
import { FIO_URING, FS } from './report'
import type { Contender, Workload, WorkerConfig } from './types'

const DEFAULT_CHUNK = 512 * 1024 // IoContext's default chunkSize
/**
 * 'auto' starts at depth 4 and doubles every ~100-200 ms while throughput
 * rises: it needs about a second to reach depth 32-128 on this disk. It is
 * measured in steady state like every other contender, so it warms up at
 * least this long; its depth trace (in the JSON) shows the ramp.
 */
export const AUTO_WARMUP_MS = 1000

export const ALL_WORKLOADS: Workload[] = [
  { key: 'randread-4k-d1', title: '4 KiB random reads, depth 1', op: 'randread', bs: 4096, depth: 1, file: 'read', bandwidth: false },
  { key: 'randread-4k-d32', title: '4 KiB random reads, depth 32', op: 'randread', bs: 4096, depth: 32, file: 'read', bandwidth: false },
  { key: 'randread-4k-d128', title: '4 KiB random reads, depth 128', op: 'randread', bs: 4096, depth: 128, file: 'read', bandwidth: false },
  { key: 'randwrite-4k-d32', title: '4 KiB random writes, depth 32 (separate file)', op: 'randwrite', bs: 4096, depth: 32, file: 'write', bandwidth: false },
  { key: 'seqread-1m-d8', title: '1 MiB sequential reads, depth 8', op: 'seqread', bs: 1 << 20, depth: 8, file: 'read', bandwidth: true },
  { key: 'randrw70-4k-d32', title: '4 KiB random 70% read / 30% write, depth 32 (write file)', op: 'randrw', bs: 4096, depth: 32, readPct: 70, file: 'write', bandwidth: false },
]
export const QUICK_WORKLOADS = ['randread-4k-d1', 'randread-4k-d32', 'randread-4k-d128']

export const ALL_CONTENDERS: Contender[] = [
  { key: 'direct-aio-io_uring', label: 'direct-aio io_uring', kind: 'direct-aio', backend: 'io_uring', maxInFlight: 'fixed' },
  { key: 'direct-aio-io_uring-auto', label: "direct-aio io_uring 'auto'", kind: 'direct-aio', backend: 'io_uring', maxInFlight: 'auto' },
  { key: 'direct-aio-libaio', label: 'direct-aio libaio', kind: 'direct-aio', backend: 'libaio', maxInFlight: 'fixed' },
  { key: 'direct-aio-threadpool', label: 'direct-aio threadpool', kind: 'direct-aio', backend: 'threadpool', maxInFlight: 'fixed' },
  { key: FS, label: 'fs.promises', kind: 'fs', env: { UV_USE_IO_URING: '0' } },
  { key: 'fs.promises-uv-io_uring', label: 'fs.promises UV_USE_IO_URING=1', kind: 'fs', env: { UV_USE_IO_URING: '1' } },
  { key: FIO_URING, label: 'fio io_uring', kind: 'fio', backend: 'io_uring' },
  { key: 'fio-libaio', label: 'fio libaio', kind: 'fio', backend: 'libaio' },
]

/** Environment for every child: the parent's, minus anything that would change a contender. */
export function childEnv(extra: Record<string, string> = {}, clkTck: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of ['UV_THREADPOOL_SIZE', 'UV_USE_IO_URING', 'DIRECT_AIO_BACKEND', 'DIRECT_AIO_KERNEL_CANCEL', 'NODE_OPTIONS']) delete env[k]
  return { ...env, BENCH_CLK_TCK: String(clkTck), ...extra }
}

function nextPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/**
 * A Node child's configuration. Fixed-depth direct-aio gets maxInFlight =
 * depth x chunks per request (a 1 MiB read is two 512 KiB chunks, and the
 * limit counts chunks), so `depth` requests are in the kernel at once.
 */
export function workerConfig(c: Contender, w: Workload, path: string, fileSize: number, warmupMs: number, measureMs: number, seed: number): WorkerConfig {
  const fixed = w.depth * Math.ceil(w.bs / DEFAULT_CHUNK)
  return {
    contender: c,
    workload: w,
    path,
    fileSize,
    warmupMs: c.maxInFlight === 'auto' ? Math.max(warmupMs, AUTO_WARMUP_MS) : warmupMs,
    measureMs,
    maxInFlight: c.maxInFlight === 'auto' ? 'auto' : fixed,
    entries: Math.max(256, nextPow2(fixed)),
    seed,
  }
}
