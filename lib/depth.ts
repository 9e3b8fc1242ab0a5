// Adaptive in-kernel depth ('auto'): find the smallest depth that keeps a
// device's throughput within 5% of the best seen. Grow while throughput
// rises; when it stops rising, step back and shrink while throughput holds;
// then hold, and probe upward again now and then in case the device changed.
// Every request kept out of the kernel stays cancellable, so on a congested
// device the depth stays small, and on a fast one it grows until the device
// stops getting faster.

const WINDOW_MS = 50
const WINDOW_MIN_COMPLETIONS = 32
const GROW_GAIN = 1.08
const KEEP_FRACTION = 0.95
const HOLD_MS = 2000

type Phase = 'grow' | 'shrink' | 'hold'

export class DepthController {
  depth: number
  private readonly max: number
  private phase: Phase = 'grow'
  private windowStart = 0
  private completions = 0
  private saturatedCompletions = 0
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
  onComplete(now: number, saturated: boolean): void {
    if (this.windowStart === 0) this.windowStart = now
    this.completions++
    if (saturated) this.saturatedCompletions++
    const elapsed = now - this.windowStart
    if (elapsed < WINDOW_MS || this.completions < WINDOW_MIN_COMPLETIONS) return
    const tput = (this.completions * 1000) / elapsed
    const wasSaturated = this.saturatedCompletions * 2 >= this.completions
    this.windowStart = now
    this.completions = 0
    this.saturatedCompletions = 0
    if (this.warmup) {
      // The first window after a change still holds requests issued at the
      // old depth.
      this.warmup = false
      return
    }
    // With spare depth nobody waited, so the window says nothing about it.
    if (!wasSaturated) return
    this.evaluate(now, tput)
  }

  private set(depth: number): void {
    const d = Math.max(1, Math.min(this.max, Math.round(depth)))
    if (d !== this.depth) {
      this.depth = d
      this.warmup = true
    }
  }

  private evaluate(now: number, tput: number): void {
    switch (this.phase) {
      case 'grow':
        if (this.prevDepth === 0 || tput >= this.prevTput * GROW_GAIN) {
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
        if (tput >= this.best * KEEP_FRACTION) {
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
        if (now >= this.holdUntil) {
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
