// Counters for IoContext.stats(): outcomes, bytes, depth and latency.

/** A snapshot returned by IoContext.stats(). */
export interface IoStats {
  backend: string
  requests: {
    submitted: number
    completed: number
    failed: number
    cancelledQueued: number
    cancelledKernel: number
    cancelledTooLate: number
  }
  bytes: {
    read: number
    written: number
    /** Bytes that never reached the device because their request was aborted first. */
    saved: number
  }
  kernelCancels: { sent: number; cancelled: number; notFound: number; alreadyRunning: number; refused: number }
  depth: { current: number; peak: number; limits: Record<string, number> }
  queued: number
  /** Request latency from call to settlement, in milliseconds, over the last 4096 requests. */
  latency: { p50: number; p99: number; samples: number }
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
    else if (res === -2) this.cancelNotFound++
    else if (res === -114) this.cancelAlready++
    else this.cancelRefused++
  }

  percentiles(): { p50: number; p99: number; samples: number } {
    const n = Math.min(this.latCount, RESERVOIR)
    if (n === 0) return { p50: 0, p99: 0, samples: 0 }
    const s = Float64Array.from(this.lat.subarray(0, n)).sort()
    return { p50: s[Math.floor((n - 1) * 0.5)], p99: s[Math.floor((n - 1) * 0.99)], samples: n }
  }
}
