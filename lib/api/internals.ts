// What the API modules share without being public: the context's internals
// (its scheduler and device queues) behind a symbol, so file.ts and group.ts
// need no runtime import of context.ts.
import type { DeviceQueue } from '../sched/device-queue'
import type { Scheduler } from '../sched/scheduler'

/** @internal what a file handle and a group need from their context */
export interface ContextInternals {
  scheduler: Scheduler
  device(dev: number): DeviceQueue
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
