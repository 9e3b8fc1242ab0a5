// IoContext: one backend (ring), one scheduler, per-device queues. Each
// thread gets its own default context; contexts are never shared across
// threads.
import * as fs from 'node:fs'
import { BackendName } from './backends/backend'
import { BackendChoice, selectBackend } from './backends/select'
import { ThreadpoolBackend } from './backends/threadpool'
import { preAborted, watchSignal } from './cancel'
import { DepthController } from './depth'
import { AbortError, contextClosed, invalidArgType, invalidArgValue, outOfRange } from './errors'
import { deviceInfo } from './kernel'
import { DeviceQueue, Scheduler } from './queue'
import type { Group } from './request'
import type { IoStats } from './stats'
import type { DirectFileHandle } from './file'

/** Options for {@link IoContext}. */
export interface IoContextOptions {
  /** Ring size (io_uring SQ entries, libaio events). Default 256. */
  entries?: number
  /** Requests in the kernel at once, per device: a number, or `'auto'` (default) for adaptive depth. */
  maxInFlight?: number | 'auto'
  /** Which backend to use. Default `'auto'` (io_uring, then libaio, then the thread pool; `DIRECT_AIO_BACKEND` overrides). */
  backend?: BackendChoice
  /**
   * How far to trust the kernel's own cancel. `'auto'` (default) trusts it only where the kernel can cancel
   * I/O already in the block layer (no mainline kernel can); `'trust'` lets depth grow to the ring size;
   * `'never'` sends no kernel cancels. `DIRECT_AIO_KERNEL_CANCEL` overrides the default.
   */
  kernelCancel?: 'auto' | 'trust' | 'never'
  /** Requests larger than this are split into chunks, checked for abort before each goes out. Default 512 KiB, never above the device's max_sectors_kb. */
  chunkSize?: number
  /** Chunks of one request in flight at once. Default 4. */
  maxChunksInFlight?: number
}

/** One operation of {@link IoContext.group}. */
export interface GroupOp {
  /** An open file of the same context. */
  file: DirectFileHandle
  /** Default `'write'`. */
  op?: 'write' | 'read'
  /** The data (or the destination of a read). */
  buffer: ArrayBufferView
  /** File position (required: no current-position form in a group). */
  position: number | bigint
  /** Where in the buffer to start. Default 0. */
  offset?: number
  /** Bytes to transfer. Default: the rest of the buffer. */
  length?: number
}

/** Options for {@link IoContext.group}. */
export interface GroupOptions {
  /** Aborts the group (all of it if nothing was issued yet; see `indivisible`). */
  signal?: AbortSignal
  /** All-or-nothing with respect to cancellation (the md/RAID rule). Default true. */
  indivisible?: boolean
  /** Priority of every operation of the group. Default 0. */
  priority?: number
}

const DEFAULT_ENTRIES = 256
const DEFAULT_CHUNK = 512 * 1024

/** @internal what file.ts needs from a context */
export interface ContextInternals {
  scheduler: Scheduler
  device(dev: number): DeviceQueue
  /**
   * The scheduler and device queue that serve a file. `pool` routes it to a
   * thread-pool scheduler of this context instead of the context's backend:
   * for files that backend would do synchronously (libaio and buffered I/O).
   */
  route(dev: number, pool: boolean): { scheduler: Scheduler; device: DeviceQueue; backend: BackendName }
  chunkSize: number
  maxChunksInFlight: number
  checkOpen(): void
  closed: boolean
}

export const kInternals = Symbol('direct-aio.internals')

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw invalidArgType(`options.${name}`, 'of type number', v)
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(`options.${name}`, `an integer >= ${min} and <= ${max}`, v)
  return v
}

/**
 * An I/O context: a ring (io_uring or libaio) or the thread pool, with the
 * userspace queue that decides what enters the kernel and when.
 */
export class IoContext {
  /** The backend in use. */
  readonly backend: BackendName
  /** Why each backend tried before this one was refused (for `backend: 'auto'`). */
  readonly refusals: Partial<Record<BackendName, string>>
  /** The kernel-cancel policy in effect. */
  readonly kernelCancel: 'auto' | 'trust' | 'never'
  readonly #scheduler: Scheduler
  readonly #devices = new Map<string, DeviceQueue>()
  readonly #maxInFlight: number | 'auto'
  /** Created on first use: the thread pool for files the context's backend cannot do asynchronously. */
  #pool: { scheduler: Scheduler; devices: Map<string, DeviceQueue> } | null = null
  #closed = false
  #closing: Promise<void> | null = null
  /** @internal */
  readonly [kInternals]: ContextInternals

  /**
   * Create a context. Throws ERR_DIRECT_AIO_BACKEND_UNAVAILABLE if a backend
   * asked for by name (or by DIRECT_AIO_BACKEND) cannot be set up here, and
   * ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE for bad options.
   */
  constructor(options: IoContextOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    const entries = options.entries === undefined ? DEFAULT_ENTRIES : checkInt('entries', options.entries, 1, 32768)
    const mif = options.maxInFlight ?? 'auto'
    if (mif !== 'auto') checkInt('maxInFlight', mif, 1, 1 << 20)
    const backendChoice = options.backend ?? 'auto'
    if (!['auto', 'io_uring', 'libaio', 'threadpool'].includes(backendChoice as string)) {
      throw invalidArgValue('options.backend', backendChoice, "must be one of 'auto', 'io_uring', 'libaio', 'threadpool'")
    }
    let kc = options.kernelCancel
    if (kc === undefined) {
      const env = process.env.DIRECT_AIO_KERNEL_CANCEL
      kc = env === 'trust' || env === 'never' ? env : 'auto'
    }
    if (!['auto', 'trust', 'never'].includes(kc as string)) {
      throw invalidArgValue('options.kernelCancel', kc, "must be one of 'auto', 'trust', 'never'")
    }
    const chunkSize = options.chunkSize === undefined ? DEFAULT_CHUNK : checkInt('chunkSize', options.chunkSize, 4096, 1 << 30)
    const maxChunks = options.maxChunksInFlight === undefined ? 4 : checkInt('maxChunksInFlight', options.maxChunksInFlight, 1, 1024)
    this.kernelCancel = kc
    this.#maxInFlight = mif
    const sched = new Scheduler({ kernelCancel: kc })
    const sel = selectBackend(backendChoice, entries, {
      complete: sched.complete,
      cancelResult: sched.cancelResult,
      batchEnd: sched.batchEnd,
    })
    sched.backend = sel.backend
    this.#scheduler = sched
    this.backend = sel.backend.name
    this.refusals = sel.refusals
    const self = this
    this[kInternals] = {
      scheduler: sched,
      device: (dev: number) => self.#device(dev),
      route: (dev: number, pool: boolean) => {
        if (!pool || self.#scheduler.backend.name === 'threadpool') return { scheduler: sched, device: self.#device(dev), backend: self.backend }
        return { scheduler: self.#poolScheduler(), device: self.#poolDevice(dev), backend: 'threadpool' }
      },
      chunkSize,
      maxChunksInFlight: maxChunks,
      checkOpen: () => {
        if (self.#closed) throw contextClosed()
      },
      get closed() {
        return self.#closed
      },
    }
  }

  #device(dev: number): DeviceQueue {
    const info = deviceInfo(dev)
    let q = this.#devices.get(info.key)
    if (q) return q
    const backend = this.#scheduler.backend
    let cap = backend.capacity
    if (info.nrRequests) {
      // libaio's io_submit blocks when the device queue is full: stay well below it.
      cap = Math.min(cap, backend.name === 'libaio' ? Math.max(1, Math.floor(info.nrRequests / 2)) : info.nrRequests)
    }
    const mif = this.#maxInFlight
    // An explicit depth is honoured up to the ring size, except for libaio,
    // whose io_submit would block the event loop on a full device queue.
    if (mif !== 'auto') q = new DeviceQueue(info.key, Math.min(mif, backend.name === 'libaio' ? cap : backend.capacity), null)
    else if (this.kernelCancel === 'trust' || backend.name === 'threadpool') q = new DeviceQueue(info.key, cap, null)
    else q = new DeviceQueue(info.key, cap, new DepthController(4, cap))
    this.#devices.set(info.key, q)
    this.#scheduler.addDevice(q)
    return q
  }

  #poolScheduler(): Scheduler {
    if (this.#pool) return this.#pool.scheduler
    // Same counters as the main scheduler: stats() shows one context.
    const sched = new Scheduler({ kernelCancel: this.kernelCancel }, this.#scheduler.stats)
    sched.backend = new ThreadpoolBackend({ complete: sched.complete, cancelResult: sched.cancelResult, batchEnd: sched.batchEnd })
    this.#pool = { scheduler: sched, devices: new Map() }
    return sched
  }

  #poolDevice(dev: number): DeviceQueue {
    const sched = this.#poolScheduler()
    const devices = this.#pool!.devices
    const info = deviceInfo(dev)
    let q = devices.get(info.key)
    if (q) return q
    const cap = sched.backend.capacity
    q = new DeviceQueue(info.key, this.#maxInFlight === 'auto' ? cap : Math.min(this.#maxInFlight, cap), null)
    devices.set(info.key, q)
    sched.addDevice(q)
    return q
  }

  /** Counters by outcome, bytes, depth and latency. */
  stats(): IoStats {
    const s = this.#scheduler.stats
    const native = this.#closed ? { liveOps: 0, liveRings: 0 } : this.#scheduler.backend.nativeStats()
    const pool = this.#pool?.scheduler
    const poolLimits: Record<string, number> = {}
    if (pool) for (const [k, v] of Object.entries(pool.limits())) poolLimits[`${k} (threadpool)`] = v
    return {
      backend: this.backend,
      requests: {
        submitted: s.submitted,
        completed: s.completed,
        failed: s.failed,
        cancelledQueued: s.cancelledQueued,
        cancelledKernel: s.cancelledKernel,
        cancelledTooLate: s.cancelledTooLate,
      },
      bytes: { read: s.bytesRead, written: s.bytesWritten, saved: s.bytesSaved },
      kernelCancels: { sent: s.cancelsSent, cancelled: s.cancelOk, notFound: s.cancelNotFound, alreadyRunning: s.cancelAlready, refused: s.cancelRefused },
      depth: { current: this.#scheduler.depth + (pool?.depth ?? 0), peak: s.peakDepth, limits: { ...this.#scheduler.limits(), ...poolLimits } },
      queued: this.#scheduler.queuedCount + (pool?.queuedCount ?? 0),
      latency: s.percentiles(),
      native: { liveOps: native.liveOps, liveRings: native.liveRings },
    }
  }

  /**
   * Run several reads or writes, possibly across files, as one unit. With
   * `indivisible` (the default), an abort before any part is issued stops all
   * of it, and an abort after that lets all of it complete (then rejects with
   * `stage: 'issued'` and the full `bytesTransferred`). Resolves with the
   * bytes transferred by each operation.
   */
  async group(ops: GroupOp[], options: GroupOptions = {}): Promise<number[]> {
    if (!Array.isArray(ops)) throw invalidArgType('ops', 'an array', ops)
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    const signal = options.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', signal)
    this[kInternals].checkOpen()
    if (signal?.aborted) throw preAborted(signal)
    const indivisible = options.indivisible ?? true
    if (typeof indivisible !== 'boolean') throw invalidArgType('options.indivisible', 'of type boolean', indivisible)
    const priority = options.priority ?? 0
    if (typeof priority !== 'number') throw invalidArgType('options.priority', 'of type number', priority)
    if (!Number.isSafeInteger(priority)) throw outOfRange('options.priority', 'a safe integer', priority)
    const group: Group = { committed: false }
    const { submitGroupMember } = require('./file') as typeof import('./file')
    const prepared = ops.map((op, i) => submitGroupMember(this, op, i, group, indivisible, priority))
    const members = prepared.map((submit) => submit())
    let aborted = false
    let reason: unknown
    const stop = signal
      ? watchSignal(signal, (r) => {
          aborted = true
          reason = r
          if (!group.committed || !indivisible) for (const m of members) m.abort(r)
        })
      : () => {}
    const settled = await Promise.allSettled(members.map((m) => m.promise))
    stop()
    const bytes = settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason instanceof AbortError ? s.reason.bytesTransferred : 0))
    if (aborted) {
      const total = bytes.reduce((a, b) => a + b, 0)
      const stages = settled.map((s) => (s.status === 'rejected' && s.reason instanceof AbortError ? s.reason.stage : 'issued'))
      const stage = stages.every((st) => st === 'queued') ? 'queued' : stages.every((st) => st === 'queued' || st === 'kernel') ? 'kernel' : 'issued'
      const ranges = settled.flatMap((s) => (s.status === 'rejected' && s.reason instanceof AbortError ? s.reason.ranges : []))
      throw new AbortError(stage, total, ranges, reason)
    }
    const failed = settled.find((s) => s.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
    return bytes
  }

  /** Wait for everything queued or in flight, then release the ring. Later calls reject with ERR_DIRECT_AIO_CONTEXT_CLOSED. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closed = true
    const pool = this.#pool?.scheduler
    this.#closing = Promise.all([this.#scheduler.drained(), pool?.drained()]).then(() => {
      this.#scheduler.backend.close()
      pool?.backend.close()
      if (defaultCtx === this) defaultCtx = null
    })
    return this.#closing
  }

  /** `await using ctx = new IoContext()` closes the context at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** True after close() was called. */
  get closed(): boolean {
    return this.#closed
  }
}

let defaultCtx: IoContext | null = null

/** The calling thread's default context, created on first use. */
export function defaultContext(): IoContext {
  if (!defaultCtx || defaultCtx.closed) defaultCtx = new IoContext()
  return defaultCtx
}

/** @internal */
export function fstatDev(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))))
}
