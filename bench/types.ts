// Shapes shared by the orchestrator (bench/index.ts) and its child processes.

export type Op = 'randread' | 'randwrite' | 'seqread' | 'randrw'

export interface Workload {
  /** Stable key, e.g. 'randread-4k-d32'. */
  key: string
  title: string
  op: Op
  /** Block size in bytes. */
  bs: number
  depth: number
  /** randrw only: percentage of reads. */
  readPct?: number
  /** Which data file: the read file, or the separate write file. */
  file: 'read' | 'write'
  /** Report MB/s rather than IOPS as the headline. */
  bandwidth: boolean
}

export type ContenderKind = 'direct-aio' | 'fs' | 'fio'

export interface Contender {
  key: string
  label: string
  kind: ContenderKind
  /** direct-aio backend, or fio ioengine. */
  backend?: 'io_uring' | 'libaio' | 'threadpool'
  /** direct-aio: 'auto' or fixed (the workload depth, in chunks). */
  maxInFlight?: 'auto' | 'fixed'
  /** Extra environment for the child (UV_USE_IO_URING=1). */
  env?: Record<string, string>
}

/** What the orchestrator hands a Node child (as JSON in argv[2]). */
export interface WorkerConfig {
  contender: Contender
  workload: Workload
  path: string
  fileSize: number
  warmupMs: number
  measureMs: number
  /** direct-aio IoContext options. */
  maxInFlight?: number | 'auto'
  entries?: number
  seed: number
}

export interface Latency {
  /** Microseconds. */
  p50: number
  p99: number
  p999: number
  mean: number
  max: number
}

/** One measured run of one contender on one workload. */
export interface RunResult {
  contender: string
  workload: string
  round: number
  ok: boolean
  error?: string
  ops: number
  bytes: number
  /** Length of the measured window, ms. */
  elapsedMs: number
  iops: number
  mbps: number
  lat: Latency
  /** Process user+sys CPU per I/O, µs. */
  cpuProcUs: number
  /** Process CPU plus the whole machine's irq+softirq time, per I/O, µs: robust to other tenants' user-space load. */
  cpuProcIrqUs: number
  /** Whole-machine busy CPU time per I/O (from /proc/stat), µs. */
  cpuMachineUs: number
  /** Whole-machine busy cores during the window (0..cores). */
  machineBusyCores: number
  /** Busy cores not accounted for by this run (machine - process - irq/softirq): other tenants. */
  otherCores: number
  errors: number
  extra?: Record<string, unknown>
}

/** Cancellation child configuration. */
export interface CancelConfig {
  label: string
  path: string
  /** Another node for the same device, tried if opening `path` fails with EINVAL. */
  fallbackPath?: string
  deviceSize: number
  statPath: string
  n: number
  bs: number
  spacing: number
  abortAfterMs: number
  backend: 'io_uring' | 'libaio' | 'threadpool'
  maxInFlight: number | 'auto'
  entries: number
}

export interface CancelChildResult {
  backend: string
  /** The path that opened (fallbackPath if `path` was refused). */
  openedPath: string
  openError?: string
  n: number
  /** Device-completed reads (loop stat) when the child called abort(). */
  deviceReadsAtAbortAbs: number
  queuedAtAbort: number
  inKernelAtAbort: number
  completedBeforeAbort: number
  stages: Record<string, number>
  settleAllMs: { p50: number; p99: number; max: number }
  settleQueuedMs: { p50: number; p99: number; max: number; n: number }
  loopDelayMaxMs: number
  loopDelayMaxAfterAbortMs: number
  peakDepth: number
  /** abort() to the last request settling. */
  lastSettleMs: number
  /** Wall time spent inside abort() itself (listeners run synchronously). */
  abortSyncMs: number
  /** Process CPU time spent inside abort(): robust to other tenants' load. */
  abortCpuMs: number
  errors: number
}
