// What the API modules share without being public: the context's internals
// (its scheduler and device queues) behind a symbol, so file.ts and group.ts
// need no runtime import of context.ts.
import type { BackendTraits } from '../backends/backend'
import type { BackendName } from '../backends/registry'
import type { DeviceQueue } from '../sched/device-queue'
import type { Scheduler } from '../sched/scheduler'
import type { Group } from '../sched/request'
import type { IoContext } from './context'
import type { IoFields } from '../validate'

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
  /** Count bytes copied by a bounce (stats().bytes.bounced). */
  bounced(n: number): void
  /** Give AbortErrors a stack trace (DIRECT_AIO_ABORT_STACKS=1 or the context option). */
  abortStacks: boolean
}

export const kInternals = Symbol('direct-aio.internals')

/** @internal anything that carries a context's internals */
export interface HasInternals {
  readonly [kInternals]: ContextInternals
}

/** Every DirectFileHandle, so the api modules can recognise one without importing file.ts (no cycle). */
export const handles = new WeakSet<object>()

/**
 * @internal `fh[kTrack](syscall, fn)`: refuse with EBADF if the handle is
 * closed, else run `fn` as work that close() waits for (space and lock calls).
 */
export const kTrack = Symbol('direct-aio.track')

/** @internal a checked call, ready to become a Request */
export interface Submission {
  kind: number
  views: ArrayBufferView[]
  vectored: boolean
  byteOffset: number
  length: number
  position: number
  signal: AbortSignal | undefined
  priority: number
  deadline: number
  indivisible: boolean
  group: Group | null
  /**
   * read() and write() pass their buffer: the request's promise then resolves
   * with `{ bytesRead | bytesWritten, buffer: target }` itself, not with the
   * byte count for an async wrapper to reshape (one promise and one
   * microtask hop fewer per call). null: it resolves with the byte count.
   */
  target: ArrayBufferView | null
}

/** @internal what kEnqueue hands back: the promise, and how to abort the request */
export interface Enqueued {
  /** Resolves with the byte count, or with read()'s or write()'s result when the submission had a `target`. */
  promise: Promise<number>
  abort(reason: unknown): void
}

/**
 * @internal Positioned, aligned I/O on one handle that close() already waits
 * for: what append.ts and bounce.ts build on (file.ts provides it).
 */
export interface AlignedIo {
  /** Position and length granularity (`alignment.offset`; 1 without O_DIRECT). */
  block: number
  /** Zero-filled memory aligned for the handle. */
  alloc(size: number): Buffer
  readAt(buf: Buffer, length: number, position: number, io: IoFields): Promise<number>
  writeAt(buf: Buffer, length: number, position: number, io: IoFields): Promise<number>
  size(): Promise<number>
  truncate(len: number): Promise<void>
  /** True if the memory of `view` from `offset` meets the handle's alignment. */
  aligned(view: ArrayBufferView, offset: number): boolean
  /** Count bytes copied through aligned memory (stats().bytes.bounced). */
  bounced(n: number): void
  /** For O_SYNC/O_DSYNC handles: make a truncate durable too. */
  datasync: (() => Promise<unknown>) | null
  /** The handle's current position (where position-less I/O goes), and setting it. */
  pos(): number
  setPos(n: number): void
}

/** @internal what open() hands the DirectFileHandle constructor */
export interface HandleInit {
  fd: number
  path: string
  direct: boolean
  context: IoContext
  dev: number
  /** Where position-less I/O starts: 0, or the size for an append handle. */
  pos: number
  alignment: { memory: number; offset: number }
  maxSectorsBytes: number | null
  /** Serve it from the context's thread pool (see open.ts needsThreadPool). */
  pool: boolean
  /** Opened with O_APPEND ('a', 'a+', ...). With O_DIRECT, open() dropped the flag and the handle appends. */
  append: boolean
  /** Opened with O_SYNC or O_DSYNC. */
  dsync: boolean
  /** Default of the per-call `bounce` option. */
  bounce: boolean
}

/** Only open() holds this: `new DirectFileHandle(...)` without it throws ERR_ILLEGAL_CONSTRUCTOR. */
export const kConstruct = Symbol('direct-aio.construct')
