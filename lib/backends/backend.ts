// The interface every backend satisfies. A backend moves prepared operations
// into the kernel (or the thread pool) and reports completions; it has no
// policy of its own: the scheduler decides what goes in and when, using the
// traits below.
export type { BackendName } from './registry'

export interface BackendEvents {
  /** An operation finished: `res` is bytes transferred or a negative errno. */
  complete(id: number, res: number): void
  /** The kernel answered a cancel of `id`: 0, -ENOENT, -EALREADY, -EINVAL... */
  cancelResult(id: number, res: number): void
  /** A batch of completions ended (flush point). */
  batchEnd(): void
}

/**
 * How the scheduler sizes a backend's per-device queues. Declared once per
 * backend, in its registry entry; `capacity` and `canCancel` are on the
 * Backend itself (they depend on the ring created).
 */
export interface BackendTraits {
  /** The most operations one device should have in the kernel, given the backend's capacity and the device's sysfs nr_requests (null: unknown). */
  deviceCap(capacity: number, nrRequests: number | null): number
  /** Whether an explicit `maxInFlight` is held to deviceCap() too (else only to capacity). */
  readonly capsExplicitDepth: boolean
  /** Whether `maxInFlight: 'auto'` adapts depth (else it is fixed at deviceCap()). */
  readonly adaptiveDepth: boolean
  /**
   * Whether the kernel does everything but O_DIRECT I/O on regular files and
   * block devices inline, in the submit call (libaio's io_submit): such files
   * (buffered, character devices) then go to the context's thread pool.
   */
  readonly inlineUnlessDirect: boolean
  /** Whether the backend can wait for a FIFO's or socket's peer without holding a thread no abort can release. */
  readonly waitsForPeers: boolean
  /** The backend a context falls back to, per file, for files its own backend would do inline. */
  readonly pool: boolean
}

export interface Backend {
  /** The registry name it was created under. */
  readonly name: string
  /** How many operations may be in the kernel at once. */
  readonly capacity: number
  /** Whether cancel() reaches the kernel at all. */
  readonly canCancel: boolean
  /**
   * Whether prep() itself keeps allocAligned memory allocated until the
   * operation completes (the native rings do). Otherwise each request holds
   * it from enqueue to settle (holdAligned in api/file.ts), one call into the
   * addon more per request.
   */
  readonly holdsLibraryMemory: boolean
  /** Stage one operation; nothing is issued until submit(). 0 or -errno. */
  prep(id: number, kind: number, fd: number, position: number, views: ArrayBufferView | ArrayBufferView[] | null, byteOffset: number, byteLength: number): number
  /** Ask the kernel to cancel an issued operation. 0 (answer follows) or -errno. */
  cancel(id: number): number
  /** Issue everything staged. Number accepted, or -errno. */
  submit(): number
  /** Release kernel resources. Call only with nothing in flight. */
  close(): void
  /** Native counters (live operations, rings). */
  nativeStats(): { liveOps: number; liveRings: number; pending: number }
}

/** deviceCap() for a backend that may fill the device queue: min(capacity, nr_requests). */
export function fullDeviceQueue(capacity: number, nrRequests: number | null): number {
  return nrRequests ? Math.min(capacity, nrRequests) : capacity
}
