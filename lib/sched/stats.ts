// Counters for IoContext.stats(): outcomes, bytes, depth and latency.
import { EALREADY, ECANCELED, ENOENT } from '../sys-constants'
import type { AbortStage } from '../errors'
import type { Request } from './request'

/**
 * A snapshot returned by {@link IoContext.stats}. Counters start at zero when
 * the context is created and only grow; `depth.current`, `queued` and
 * `native` are instantaneous.
 */
export interface IoStats {
  /** The backend this context runs on: `'io_uring'`, `'libaio'` or `'threadpool'`. */
  backend: string
  /** Requests by outcome. A request split into chunks counts once. */
  requests: {
    /** Requests accepted into the queue (a request refused up front, e.g. with an already-aborted signal, is not counted). */
    submitted: number
    /** Requests that resolved. */
    completed: number
    /** Requests rejected with a system error (`EIO`, `ENOSPC`, ...). */
    failed: number
    /** Aborted requests that settled with `stage: 'queued'`: dropped from the queue, never issued. */
    cancelledQueued: number
    /** Aborted requests that settled with `stage: 'kernel'`: cancelled by the kernel before reaching the device. */
    cancelledKernel: number
    /** Aborted requests that settled with `stage: 'issued'`: they had reached the device and ran (at least in part). */
    cancelledTooLate: number
  }
  /** Bytes moved, and bytes that aborts kept off the device. */
  bytes: {
    /** Bytes read by settled requests, including the parts of aborted requests that ran. */
    read: number
    /** Bytes written by settled requests, including the parts of aborted requests that ran. */
    written: number
    /** Bytes that never reached the device because their request was aborted first. */
    saved: number
    /** Bytes copied through aligned memory by `{ bounce: true }` reads and writes (read or written by the caller, not by the device). */
    bounced: number
  }
  /**
   * Kernel cancels (io_uring `ASYNC_CANCEL`, libaio `io_cancel`) by answer:
   * `sent`; `cancelled` (0: the kernel stopped it); `notFound` (`-ENOENT`:
   * already in the block layer); `alreadyRunning` (`-EALREADY`: a worker is
   * running it); `refused` (any other errno, e.g. libaio's `-EINVAL`).
   */
  kernelCancels: { sent: number; cancelled: number; notFound: number; alreadyRunning: number; refused: number }
  /**
   * In-kernel depth: `current` operations in the kernel now (a chunk counts as
   * one), the `peak` so far, and each device's current limit keyed by
   * `"major:minor"` (what `maxInFlight: 'auto'` has settled on).
   */
  depth: { current: number; peak: number; limits: Record<string, number> }
  /** Requests waiting in direct-aio's queue now: the ones an abort can still drop on every backend. */
  queued: number
  /** Request latency from call to settlement, in milliseconds, over the last 4096 requests. */
  latency: { p50: number; p99: number; samples: number }
  /**
   * The native addon's own allocations, process-wide: operations whose
   * buffers it still references (waiting for their completion) and rings
   * alive. Both return to their baseline once every context is closed.
   */
  native: { liveOps: number; liveRings: number }
}

const RESERVOIR = 4096

export class StatsRecorder {
  submitted = 0
  completed = 0
  failed = 0
  cancelledQueued = 0
  cancelledKernel = 0
  cancelledTooLate = 0
  bytesRead = 0
  bytesWritten = 0
  bytesSaved = 0
  bytesBounced = 0
  cancelsSent = 0
  cancelOk = 0
  cancelNotFound = 0
  cancelAlready = 0
  cancelRefused = 0
  peakDepth = 0
  private lat = new Float64Array(RESERVOIR)
  private latCount = 0

  latency(ms: number): void {
    this.lat[this.latCount++ % RESERVOIR] = ms
  }

  cancelResult(res: number): void {
    if (res >= 0) this.cancelOk++
    else if (res === ENOENT) this.cancelNotFound++
    else if (res === EALREADY) this.cancelAlready++
    else this.cancelRefused++
  }

  /** An aborted request settled at `stage`; count the bytes the abort kept off the device. */
  aborted(stage: AbortStage, req: Request): void {
    if (stage === 'queued') this.cancelledQueued++
    else if (stage === 'kernel') this.cancelledKernel++
    else this.cancelledTooLate++
    let saved = req.length - req.planned
    const cs = req.chunks // indexed: see watchSignal's listener in cancel.ts
    for (let i = 0; i < cs.length; i++) if (cs[i].res === ECANCELED) saved += cs[i].len
    this.bytesSaved += saved
  }

  percentiles(): { p50: number; p99: number; samples: number } {
    const n = Math.min(this.latCount, RESERVOIR)
    if (n === 0) return { p50: 0, p99: 0, samples: 0 }
    const s = Float64Array.from(this.lat.subarray(0, n)).sort()
    return { p50: s[Math.floor((n - 1) * 0.5)], p99: s[Math.floor((n - 1) * 0.99)], samples: n }
  }
}
