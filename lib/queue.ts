// The userspace queue in front of the kernel, and the only submission point.
// Requests wait here, per device and by priority, until a kernel slot is
// free; SQEs are written only at flush time, so everything still here can be
// dropped on abort without the device ever seeing it. Requests queued during
// one turn of the event loop go out with one submit.
import { Backend } from './backends/backend'
import { abortErrorFor } from './cancel'
import { DepthController } from './depth'
import { errnoError } from './errors'
import { Chunk, ECANCELED, Request } from './request'
import { StatsRecorder } from './stats'

const now = (): number => performance.now()

interface Level {
  priority: number
  items: Request[]
  head: number
}

/** Per-device queue and in-kernel depth. */
export class DeviceQueue {
  readonly key: string
  /** Requests listed and not yet settled. */
  waiting = 0
  inKernel = 0
  /** Fixed limit, or the adaptive controller's current depth. */
  fixedLimit: number
  readonly controller: DepthController | null
  private levels: Level[] = []
  private byPriority = new Map<number, Level>()

  constructor(key: string, limit: number, controller: DepthController | null) {
    this.key = key
    this.fixedLimit = limit
    this.controller = controller
  }

  get limit(): number {
    return this.controller ? this.controller.depth : this.fixedLimit
  }

  push(req: Request): void {
    let level = this.byPriority.get(req.priority)
    if (!level) {
      level = { priority: req.priority, items: [], head: 0 }
      this.byPriority.set(req.priority, level)
      this.levels.push(level)
      this.levels.sort((a, b) => b.priority - a.priority)
    }
    level.items.push(req)
    req.queued = true
    this.waiting++
  }

  /** The next request allowed to issue a chunk, removed from the queue. */
  take(): Request | null {
    for (const level of this.levels) {
      while (level.head < level.items.length) {
        const req = level.items[level.head]
        level.items[level.head++] = undefined as unknown as Request
        if (level.head > 1024 && level.head * 2 > level.items.length) {
          level.items = level.items.slice(level.head)
          level.head = 0
        }
        if (!req.queued) continue
        req.queued = false
        this.waiting--
        if (req.settled || !req.hasMore()) continue
        return req
      }
    }
    return null
  }

  /** Forget a settled request without walking the queue (lazy removal). */
  drop(req: Request): void {
    if (req.queued) {
      req.queued = false
      this.waiting--
    }
  }
}

export interface SchedulerOptions {
  kernelCancel: 'auto' | 'trust' | 'never'
}

export class Scheduler {
  readonly stats: StatsRecorder
  private readonly inflight = new Map<number, Chunk>()
  private readonly devices: DeviceQueue[] = []
  private nextId = 1
  private seq = 0
  private inKernel = 0
  private flushScheduled = false
  private rotate = 0
  private drainWaiters: Array<() => void> = []
  private retryTimer: NodeJS.Timeout | null = null
  backend!: Backend

  /** `stats` may be shared with another scheduler of the same context. */
  constructor(private readonly options: SchedulerOptions, stats: StatsRecorder = new StatsRecorder()) {
    this.stats = stats
  }

  addDevice(dev: DeviceQueue): void {
    this.devices.push(dev)
  }

  get depth(): number {
    return this.inKernel
  }

  get queuedCount(): number {
    let n = 0
    for (const d of this.devices) n += d.waiting
    return n
  }

  get outstanding(): number {
    return this.inKernel + this.queuedCount
  }

  enqueue(req: Request): void {
    req.seq = this.seq++
    this.stats.submitted++
    req.device.push(req)
    this.scheduleFlush()
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flush)
  }

  /** Move queued work into the kernel, up to each device's depth, and submit once. */
  readonly flush = (): void => {
    this.flushScheduled = false
    const backend = this.backend
    let prepped = 0
    const failed: Array<[Chunk, number]> = []
    const n = this.devices.length
    // With several devices, the last kernel slot is kept for a device that
    // has nothing in flight, so one slow device cannot take every slot (this
    // matters most for the thread pool's 4 slots).
    const shared = n > 1 ? backend.capacity - 1 : backend.capacity
    for (let k = 0; k < n && this.inKernel < backend.capacity; k++) {
      const dev = this.devices[(this.rotate + k) % n]
      while (dev.waiting > 0 && dev.inKernel < dev.limit && (this.inKernel < shared || (dev.inKernel === 0 && this.inKernel < backend.capacity))) {
        const req = dev.take()
        if (!req) break
        const chunk = this.issue(req)
        const r = this.prepChunk(chunk)
        if (r < 0) failed.push([chunk, r])
        else prepped++
        if (req.hasMore() && req.inKernel < req.maxChunksInFlight) dev.push(req)
      }
    }
    this.rotate = n > 0 ? (this.rotate + 1) % n : 0
    if (prepped > 0 || this.pendingCancels > 0) this.submit()
    for (const [chunk, r] of failed) this.complete(chunk.id, r)
  }

  private pendingCancels = 0

  private submit(): void {
    const r = this.backend.submit()
    this.pendingCancels = 0
    // -EBADF: the ring is closed (a cancel staged just before close()).
    if (r < 0 && r !== -9 && !this.retryTimer) {
      // The kernel had no room (EAGAIN/EBUSY): what is staged stays staged.
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null
        this.submit()
      }, 1)
    }
  }

  private issue(req: Request): Chunk {
    const start = req.planned
    const len = req.length === 0 ? 0 : Math.min(req.chunkSize, req.length - start)
    req.planned += len
    if (req.indivisible) req.committed = true
    if (req.group) req.group.committed = true
    const chunk: Chunk = { id: this.nextId++, req, start, len, res: undefined, cancelSent: false, issuedAt: req.device.controller ? now() : 0 }
    req.chunks.push(chunk)
    req.inKernel++
    req.device.inKernel++
    this.inKernel++
    if (this.inKernel > this.stats.peakDepth) this.stats.peakDepth = this.inKernel
    this.inflight.set(chunk.id, chunk)
    return chunk
  }

  private prepChunk(chunk: Chunk): number {
    const req = chunk.req
    const pos = req.position < 0 ? -1 : req.position + chunk.start
    if (req.length === 0) return this.backend.prep(chunk.id, req.kind, req.fd, pos, null, 0, 0)
    if (!req.vectored) return this.backend.prep(chunk.id, req.kind, req.fd, pos, req.views[0], req.byteOffset + chunk.start, chunk.len)
    const views = chunk.start === 0 && chunk.len === req.length ? req.views : req.slice(chunk.start, chunk.len)
    return this.backend.prep(chunk.id, req.kind, req.fd, pos, views, 0, chunk.len)
  }

  /** A completion from the backend. */
  readonly complete = (id: number, res: number): void => {
    const chunk = this.inflight.get(id)
    if (!chunk) return
    this.inflight.delete(id)
    const req = chunk.req
    const dev = req.device
    chunk.res = res
    req.inKernel--
    dev.inKernel--
    this.inKernel--
    if (dev.controller) {
      const t = now()
      dev.controller.onComplete(t, dev.waiting > 0, t - chunk.issuedAt)
    }
    if (res < 0) {
      req.stopped = true
      if (!(res === ECANCELED && chunk.cancelSent) && req.error === 0) req.error = res
    } else if (res < chunk.len) {
      req.stopped = true // end of file, or a short write
    }
    if (req.inKernel === 0 && !req.hasMore()) {
      this.settle(req)
    } else if (req.hasMore() && !req.queued) {
      dev.push(req)
    }
  }

  readonly cancelResult = (_id: number, res: number): void => {
    this.stats.cancelResult(res)
  }

  readonly batchEnd = (): void => {
    if (this.queuedCount > 0) this.flush()
    if (this.inKernel === 0 && this.drainWaiters.length > 0 && this.queuedCount === 0) this.notifyDrained()
  }

  /** Abort a request: drop it if queued, ask the kernel if in flight. */
  abort(req: Request, reason: unknown): void {
    if (req.settled || req.aborted) return
    req.aborted = true
    req.abortReason = reason
    if (!req.abortable()) return // indivisible and already committed: runs to the end
    req.stopped = true
    if (req.inKernel === 0) {
      req.device.drop(req)
      this.settle(req)
      return
    }
    if (!this.backend.canCancel || this.options.kernelCancel === 'never') return
    for (const c of req.chunks) {
      if (c.res !== undefined || c.cancelSent) continue
      if (this.backend.cancel(c.id) === 0) {
        c.cancelSent = true
        this.stats.cancelsSent++
        this.pendingCancels++
      }
    }
    // Cancels go out as soon as the abort handlers have run (one submit for
    // all of them), not at the next flush: the poll phase of this loop turn
    // could otherwise complete the targets first.
    if (this.pendingCancels > 0 && !this.cancelSubmitQueued) {
      this.cancelSubmitQueued = true
      queueMicrotask(() => {
        this.cancelSubmitQueued = false
        if (this.pendingCancels > 0) this.submit()
      })
    }
  }

  private cancelSubmitQueued = false

  /** Resolve or reject a request whose chunks are all back. */
  private settle(req: Request): void {
    if (req.settled) return
    req.settled = true
    req.device.drop(req)
    const s = this.stats
    s.latency(now() - req.createdAt)
    const transferred = req.transferredBytes()
    if (req.kind === 0) s.bytesRead += transferred
    else if (req.kind === 1) s.bytesWritten += transferred
    req.onSettle?.()
    if (req.aborted) {
      const err = abortErrorFor(req)
      if (err.stage === 'queued') s.cancelledQueued++
      else if (err.stage === 'kernel') s.cancelledKernel++
      else s.cancelledTooLate++
      let saved = req.length - req.planned
      for (const c of req.chunks) if (c.res === ECANCELED) saved += c.len
      s.bytesSaved += saved
      req.reject(err)
    } else if (req.error !== 0) {
      s.failed++
      req.reject(errnoError(req.error, req.syscall, req.path))
    } else {
      s.completed++
      req.resolve(req.contiguousBytes())
    }
    if (this.inKernel === 0 && this.drainWaiters.length > 0 && this.queuedCount === 0) this.notifyDrained()
  }

  private notifyDrained(): void {
    const ws = this.drainWaiters
    this.drainWaiters = []
    for (const w of ws) w()
  }

  /** Resolves when nothing is queued or in the kernel. */
  drained(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  limits(): Record<string, number> {
    const o: Record<string, number> = {}
    for (const d of this.devices) o[d.key] = d.limit
    return o
  }
}
