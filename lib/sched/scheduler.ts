// The only submission point. Requests wait in their device's queue, ordered
// by the policy, until a kernel slot is free; SQEs are written only at flush
// time, so everything still queued can be dropped on abort without the
// device ever seeing it. Requests queued during one turn of the event loop
// go out with one submit. Completions come back by chunk id.
import type { Backend } from '../backends/backend'
import { errnoError } from '../errors'
import { EBADF, ECANCELED, OP_READ, OP_WRITE } from '../sys-constants'
import type { KernelCancel } from '../config'
import { abortErrorFor } from './cancel'
import type { DeviceQueue } from './device-queue'
import { Chunk, type Request } from './request'
import { ChunkTable } from './chunk-table'
import { StatsRecorder } from './stats'

const now = (): number => performance.now()

export interface SchedulerOptions {
  kernelCancel: KernelCancel
}

export class Scheduler {
  readonly stats: StatsRecorder
  /** Chunks in the kernel, by id (see chunk-table.ts for why not a Map). Its size is the in-kernel depth. */
  private readonly inflight = new ChunkTable()
  private readonly devices: DeviceQueue[] = []
  private nextId = 1
  private flushScheduled = false
  private rotate = 0
  private drainWaiters: Array<() => void> = []
  private retryTimer: NodeJS.Timeout | null = null
  private pendingCancels = 0
  private cancelSubmitQueued = false
  /**
   * performance.now() as read once for the current batch of completions or
   * the current flush (0: none read yet). Their events happened together,
   * and one clock read per batch instead of one per chunk and event is what
   * the latency figures and the depth controller can tell apart anyway.
   */
  private batchTime = 0
  backend!: Backend

  /** `stats` may be shared with another scheduler of the same context (its thread pool). */
  constructor(
    private readonly options: SchedulerOptions,
    stats: StatsRecorder = new StatsRecorder(),
  ) {
    this.stats = stats
  }

  addDevice(dev: DeviceQueue): void {
    this.devices.push(dev)
  }

  /** Operations in the kernel now (a chunk counts as one). */
  get depth(): number {
    return this.inflight.size
  }

  get queuedCount(): number {
    let n = 0
    for (const d of this.devices) n += d.waiting
    return n
  }

  get outstanding(): number {
    return this.depth + this.queuedCount
  }

  enqueue(req: Request): void {
    this.stats.submitted++
    req.device.push(req)
    this.scheduleFlush()
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    // A microtask, not setImmediate: requests enqueued by one synchronous run
    // (or by the continuations of one completion batch) still go out in one
    // submit, but before the loop polls again, so the ring is refilled as
    // completions are reaped instead of in lock-step batches. An abort in the
    // same synchronous run still finds them queued.
    queueMicrotask(this.flush)
  }

  /** Move queued work into the kernel, up to each device's depth, and submit once. */
  readonly flush = (): void => {
    this.flushScheduled = false
    this.batchTime = 0
    const capacity = this.backend.capacity
    let prepped = 0
    let failed: Array<[Chunk, number]> | null = null // allocated only when a prep fails
    const n = this.devices.length
    // With several devices, the last kernel slot is kept for a device that
    // has nothing in flight, so one slow device cannot take every slot (this
    // matters most for the thread pool's 4 slots).
    const shared = n > 1 ? capacity - 1 : capacity
    for (let k = 0; k < n && this.depth < capacity; k++) {
      const dev = this.devices[(this.rotate + k) % n]
      while (dev.waiting > 0 && dev.inKernel < dev.limit && (this.depth < shared || (dev.inKernel === 0 && this.depth < capacity))) {
        const req = dev.take()
        if (!req) break
        const chunk = this.issue(req)
        const r = this.prepChunk(chunk)
        if (r < 0) (failed ??= []).push([chunk, r])
        else prepped++
        if (req.hasMore() && req.inKernel < req.maxChunksInFlight) dev.push(req)
      }
    }
    this.rotate = n > 0 ? (this.rotate + 1) % n : 0
    if (prepped > 0 || this.pendingCancels > 0) this.submit()
    if (failed) for (const [chunk, r] of failed) this.complete(chunk.id, r)
    this.batchTime = 0
  }

  /** The time for this batch or flush, read on first use. */
  private time(): number {
    return this.batchTime !== 0 ? this.batchTime : (this.batchTime = now())
  }

  private submit(): void {
    const r = this.backend.submit()
    this.pendingCancels = 0
    // EBADF: the ring is closed (a cancel staged just before close()).
    if (r < 0 && r !== EBADF && !this.retryTimer) {
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
    if (req.group) req.group.committed = true
    const chunk = new Chunk(this.nextId++, req, start, len, req.device.controller ? this.time() : 0)
    req.chunks.push(chunk)
    req.inKernel++
    req.device.inKernel++
    this.inflight.set(chunk)
    if (this.depth > this.stats.peakDepth) this.stats.peakDepth = this.depth
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

  /** No more chunks of `req` will be issued. */
  private stop(req: Request): void {
    if (req.state === 'stopped' || req.state === 'settled') return
    req.device.drop(req)
    req.state = 'stopped'
  }

  /** A completion from the backend. */
  readonly complete = (id: number, res: number): void => {
    const chunk = this.inflight.take(id)
    if (!chunk) return
    const req = chunk.req
    const dev = req.device
    chunk.res = res
    req.inKernel--
    dev.inKernel--
    if (dev.controller) {
      const t = this.time()
      dev.controller.onComplete(t, dev.waiting > 0, t - chunk.issuedAt)
    }
    if (res < 0) {
      this.stop(req)
      if (!(res === ECANCELED && chunk.cancelSent) && req.error === 0) req.error = res
    } else if (res < chunk.len) {
      this.stop(req) // end of file, or a short write
    }
    if (req.inKernel === 0 && !req.hasMore()) this.settle(req)
    else if (req.hasMore()) dev.push(req)
  }

  readonly cancelResult = (_id: number, res: number): void => {
    this.stats.cancelResult(res)
  }

  readonly batchEnd = (): void => {
    this.batchTime = 0
    if (this.queuedCount > 0) this.flush()
    this.maybeDrained()
  }

  /** Abort a request: drop it if queued, ask the kernel if in flight. */
  abort(req: Request, reason: unknown): void {
    if (req.state === 'settled' || req.abort) return
    req.abort = { reason }
    if (!req.abortable()) return // indivisible and already committed: runs to the end
    this.stop(req)
    if (req.inKernel === 0) {
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

  /** Resolve or reject a request whose chunks are all back. */
  private settle(req: Request): void {
    if (req.state === 'settled') return
    req.device.drop(req)
    req.state = 'settled'
    const s = this.stats
    s.latency((this.batchTime !== 0 ? this.batchTime : now()) - req.createdAt) // outside a batch (an abort), a fresh read
    const transferred = req.transferredBytes()
    if (req.kind === OP_READ) s.bytesRead += transferred
    else if (req.kind === OP_WRITE) s.bytesWritten += transferred
    req.onSettle?.()
    if (req.abort) {
      const err = abortErrorFor(req)
      s.aborted(err.stage, req)
      req.reject(err)
    } else if (req.error !== 0) {
      s.failed++
      req.reject(errnoError(req.error, req.syscall, req.path))
    } else {
      s.completed++
      req.resolve(req.contiguousBytes())
    }
    this.maybeDrained()
  }

  private maybeDrained(): void {
    if (this.drainWaiters.length === 0 || this.outstanding !== 0) return
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
