// What the API modules share without being public: the context's internals
// (its scheduler and device queues) behind a symbol, so file.ts and group.ts
// need no runtime import of context.ts.
import type { BackendTraits } from '../backends/backend'
import type { BackendName } from '../backends/registry'
import type { DeviceQueue } from '../sched/device-queue'
import type { Scheduler } from '../sched/scheduler'

/** The scheduler and device queue that serve one file, and the backend behind them. */
export interface Route {
  scheduler: Scheduler
  device: DeviceQueue
  backend: BackendName
}

/** @internal what a file handle and a group need from their context */
export interface ContextInternals {
  /** How the context's backend treats files (depth caps, routing to the pool). */
  traits: BackendTraits
  /**
   * The scheduler and device queue that serve a file. `pool` routes it to a
   * thread-pool scheduler of this context instead of the context's backend:
   * for files that backend would do synchronously (libaio and buffered I/O).
   */
  route(dev: number, pool: boolean): Route
  chunkSize: number
  maxChunksInFlight: number
  checkOpen(): void
  closed: boolean
}

export const kInternals = Symbol('direct-aio.internals')

/** @internal anything that carries a context's internals */
export interface HasInternals {
  readonly [kInternals]: ContextInternals
}
