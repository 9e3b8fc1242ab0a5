// Adaptive in-kernel depth ('auto'), per device. Every request kept out of
// the kernel stays cancellable, so depth should be as small as it can be
// without costing throughput:
// - On a device that answers in under FAST_LATENCY_MS at the current depth,
//   depth grows freely (an abort would wait at most that long for what is in
//   the kernel, and on a fast, CPU-bound path throughput gains are too noisy
//   to measure reliably).
// - Otherwise it hill-climbs on throughput: grow while a step up gains at
//   least 8%; when it does not, step back and shrink while throughput stays
//   within 5% of the best seen; then hold, and probe upward again every 2 s.
// So on a congested device (tens of ms per request) depth stays at a few
// requests, and on a fast one it grows until the device stops answering fast.
// Windows are judged only when requests were waiting for a slot.

import type { BackendTraits } from '../backends/backend'
import type { KernelCancel } from '../config'

const WINDOW_MS = 50
const WINDOW_MIN_COMPLETIONS = 32
const GROW_GAIN = 1.08
const KEEP_FRACTION = 0.95
const HOLD_MS = 2000
// A device that answers within this many milliseconds at the current depth
// is not congested: an abort would wait at most that long for requests in
// the kernel, so depth may grow without a measured throughput gain (which on
// a fast, CPU-bound path is too noisy to detect reliably), and is never
// shrunk. Congested devices (tens of ms per request) use the throughput
// hill-climb alone.
const FAST_LATENCY_MS = 4

type Phase = 'grow' | 'shrink' | 'hold'

export class DepthController {
  depth: number
  private readonly max: number
  private phase: Phase = 'grow'
  private windowStart = 0
  private completions = 0
  private saturatedCompletions = 0
  private latencySum = 0
  private warmup = true
  private prevDepth = 0
  private prevTput = 0
  private best = 0
  private lastGood = 0
  private holdUntil = 0

  constructor(start: number, max: number) {
    this.max = Math.max(1, max)
    this.depth = Math.max(1, Math.min(start, this.max))
  }

  /** Record one completion. `saturated`: requests were waiting for a slot. */
  onComplete(now: number, saturated: boolean, latencyMs: number): void {
    if (this.windowStart === 0) this.windowStart = now
    this.completions++
    this.latencySum += latencyMs
    if (saturated) this.saturatedCompletions++
    const elapsed = now - this.windowStart
    if (elapsed < WINDOW_MS || this.completions < WINDOW_MIN_COMPLETIONS) return
    const tput = (this.completions * 1000) / elapsed
    const latency = this.latencySum / this.completions
    const wasSaturated = this.saturatedCompletions * 2 >= this.completions
    this.windowStart = now
    this.completions = 0
    this.latencySum = 0
    this.saturatedCompletions = 0
    if (this.warmup) {
      // The first window after a change still holds requests issued at the
      // old depth.
      this.warmup = false
      return
    }
    // With spare depth nobody waited, so the window says nothing about it.
    if (!wasSaturated) return
    this.evaluate(now, tput, latency < FAST_LATENCY_MS)
  }

  private set(depth: number): void {
    const d = Math.max(1, Math.min(this.max, Math.round(depth)))
    if (d !== this.depth) {
      this.depth = d
      this.warmup = true
    }
  }

  private evaluate(now: number, tput: number, fast: boolean): void {
    switch (this.phase) {
      case 'grow':
        if (this.prevDepth === 0 || fast || tput >= this.prevTput * GROW_GAIN) {
          this.best = Math.max(this.best, tput)
          this.prevDepth = this.depth
          this.prevTput = tput
          if (this.depth >= this.max) {
            this.phase = 'shrink'
            this.lastGood = this.depth
            this.set(this.depth * 0.75)
          } else {
            this.set(this.depth * 2)
          }
        } else {
          // No gain from the extra depth: it only added queueing.
          this.best = Math.max(this.best, this.prevTput, tput)
          this.lastGood = this.prevDepth
          this.phase = 'shrink'
          this.set(this.prevDepth)
        }
        break
      case 'shrink':
        if (fast) {
          this.lastGood = this.depth
          this.hold(now)
        } else if (tput >= this.best * KEEP_FRACTION) {
          this.lastGood = this.depth
          if (this.depth <= 1) {
            this.hold(now)
          } else {
            this.set(Math.min(this.depth - 1, this.depth * 0.75))
          }
        } else {
          this.set(this.lastGood)
          this.hold(now)
        }
        break
      case 'hold':
        if (fast || now >= this.holdUntil) {
          this.phase = 'grow'
          this.prevDepth = this.depth
          this.prevTput = tput
          this.best = tput
          this.set(this.depth * 2)
        }
        break
    }
  }

  private hold(now: number): void {
    this.phase = 'hold'
    this.holdUntil = now + HOLD_MS
  }
}

export interface DepthChoice {
  limit: number
  controller: DepthController | null
}

/**
 * The in-kernel depth of one device's queue: an explicit `maxInFlight`
 * (capped by the backend), a fixed cap (kernel cancel trusted, or a backend
 * whose depth does not adapt), or the adaptive controller above.
 */
export function chooseDepth(
  capacity: number,
  traits: BackendTraits,
  nrRequests: number | null,
  maxInFlight: number | 'auto',
  kernelCancel: KernelCancel,
): DepthChoice {
  const cap = traits.deviceCap(capacity, nrRequests)
  if (maxInFlight !== 'auto') return { limit: Math.min(maxInFlight, traits.capsExplicitDepth ? cap : capacity), controller: null }
  if (kernelCancel === 'trust' || !traits.adaptiveDepth) return { limit: cap, controller: null }
  return { limit: cap, controller: new DepthController(4, cap) }
}
