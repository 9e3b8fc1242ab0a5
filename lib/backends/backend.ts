// The interface every backend satisfies. A backend moves prepared operations
// into the kernel (or the thread pool) and reports completions; it has no
// policy of its own: the queue decides what goes in and when.

/** A backend's name. */
export type BackendName = 'io_uring' | 'libaio' | 'threadpool'

export const OP_READ = 0
export const OP_WRITE = 1
export const OP_FSYNC = 2
export const OP_FDATASYNC = 3

export interface BackendEvents {
  /** An operation finished: `res` is bytes transferred or a negative errno. */
  complete(id: number, res: number): void
  /** The kernel answered a cancel of `id`: 0, -ENOENT, -EALREADY, -EINVAL... */
  cancelResult(id: number, res: number): void
  /** A batch of completions ended (flush point). */
  batchEnd(): void
}

export interface Backend {
  readonly name: BackendName
  /** How many operations may be in the kernel at once. */
  readonly capacity: number
  /** Whether cancel() reaches the kernel at all. */
  readonly canCancel: boolean
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
