// IoContext: one backend (ring), one scheduler, per-device queues. Each
// thread gets its own default context; contexts are never shared across
// threads.
import { abortStacksEnv, kernelCancelEnv, KernelCancel } from '../config'
import { backendUnavailable, contextClosed } from '../errors'
import type { BackendName } from '../backends/registry'
import { BackendEntry, backendNames, poolBackend, selectBackend } from '../backends/registry'
import { deviceInfo } from '../platform/device'
import { chooseDepth } from '../sched/depth'
import { DeviceQueue } from '../sched/device-queue'
import { createPolicy, PolicyName, POLICY_NAMES } from '../sched/policy'
import { Scheduler } from '../sched/scheduler'
import type { IoStats } from '../sched/stats'
import { checkBoolean, checkInt, checkOneOf, checkOptionsObject } from '../validate'
import { runGroup } from './group'
import { ContextInternals, kInternals, Route } from './internals'
import type { GroupOp, GroupOptions, IoContextOptions } from './types'

const DEFAULT_ENTRIES = 256
const DEFAULT_CHUNK = 512 * 1024

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
  readonly kernelCancel: KernelCancel
  readonly #scheduler: Scheduler
  readonly #entry: BackendEntry
  readonly #policy: PolicyName
  readonly #devices = new Map<string, DeviceQueue>()
  readonly #maxInFlight: number | 'auto'
  /** Created on first use: the thread pool for files the context's backend cannot do asynchronously. */
  #pool: { scheduler: Scheduler; entry: BackendEntry; devices: Map<string, DeviceQueue> } | null = null
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
    checkOptionsObject(options)
    const entries = options.entries === undefined ? DEFAULT_ENTRIES : checkInt('options.entries', options.entries, 1, 32768)
    const mif = options.maxInFlight ?? 'auto'
    if (mif !== 'auto') checkInt('options.maxInFlight', mif, 1, 1 << 20)
    const backendChoice = checkOneOf('options.backend', options.backend ?? 'auto', ['auto', ...backendNames()])
    const kc = checkOneOf('options.kernelCancel', options.kernelCancel === undefined ? kernelCancelEnv() : options.kernelCancel, ['auto', 'trust', 'never'] as const)
    const chunkSize = options.chunkSize === undefined ? DEFAULT_CHUNK : checkInt('options.chunkSize', options.chunkSize, 4096, 1 << 30)
    const maxChunks = options.maxChunksInFlight === undefined ? 4 : checkInt('options.maxChunksInFlight', options.maxChunksInFlight, 1, 1024)
    const abortStacks = checkBoolean('options.abortStacks', options.abortStacks, abortStacksEnv())
    this.#policy = checkOneOf('options.policy', options.policy ?? 'priority', POLICY_NAMES)
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
    this.#entry = sel.entry
    this.backend = sel.backend.name as BackendName
    this.refusals = sel.refusals
    const self = this
    this[kInternals] = {
      traits: sel.entry,
      route: (dev: number, pool: boolean) => self.#route(dev, pool),
      chunkSize,
      maxChunksInFlight: maxChunks,
      bounced: (n: number) => {
        self.#scheduler.stats.bytesBounced += n
      },
      abortStacks,
      checkOpen: () => {
        if (self.#closed) throw contextClosed()
      },
      get closed() {
        return self.#closed
      },
    }
  }

  #route(dev: number, pool: boolean): Route {
    if (!pool || this.#entry.pool) return { scheduler: this.#scheduler, device: this.#device(this.#scheduler, this.#entry, this.#devices, dev), backend: this.backend }
    if (!this.#pool) {
      // Same counters as the main scheduler: stats() shows one context.
      const sched = new Scheduler({ kernelCancel: this.kernelCancel }, this.#scheduler.stats)
      const entry = poolBackend()
      const b = entry.create(0, { complete: sched.complete, cancelResult: sched.cancelResult, batchEnd: sched.batchEnd })
      if (typeof b === 'string') throw backendUnavailable(entry.name, b)
      sched.backend = b
      this.#pool = { scheduler: sched, entry, devices: new Map() }
    }
    const p = this.#pool
    return { scheduler: p.scheduler, device: this.#device(p.scheduler, p.entry, p.devices, dev), backend: p.entry.name as BackendName }
  }

  #device(sched: Scheduler, entry: BackendEntry, devices: Map<string, DeviceQueue>, dev: number): DeviceQueue {
    const info = deviceInfo(dev)
    let q = devices.get(info.key)
    if (q) return q
    const { limit, controller } = chooseDepth(sched.backend.capacity, entry, info.nrRequests, this.#maxInFlight, this.kernelCancel)
    q = new DeviceQueue(info.key, limit, controller, createPolicy(this.#policy))
    devices.set(info.key, q)
    sched.addDevice(q)
    return q
  }

  /** Counters by outcome, bytes, depth and latency. */
  stats(): IoStats {
    const s = this.#scheduler.stats
    const native = this.#closed ? { liveOps: 0, liveRings: 0 } : this.#scheduler.backend.nativeStats()
    const pool = this.#pool
    const poolLimits: Record<string, number> = {}
    if (pool) for (const [k, v] of Object.entries(pool.scheduler.limits())) poolLimits[`${k} (${pool.entry.name})`] = v
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
      bytes: { read: s.bytesRead, written: s.bytesWritten, saved: s.bytesSaved, bounced: s.bytesBounced },
      kernelCancels: { sent: s.cancelsSent, cancelled: s.cancelOk, notFound: s.cancelNotFound, alreadyRunning: s.cancelAlready, refused: s.cancelRefused },
      depth: { current: this.#scheduler.depth + (pool?.scheduler.depth ?? 0), peak: s.peakDepth, limits: { ...this.#scheduler.limits(), ...poolLimits } },
      queued: this.#scheduler.queuedCount + (pool?.scheduler.queuedCount ?? 0),
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
    return runGroup(this, ops, options)
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
