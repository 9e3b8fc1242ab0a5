// The public option and result types of open(), DirectFileHandle and
// IoContext, in one place.
import type { BackendChoice } from '../backends/registry'
import type { KernelCancel } from '../config'
import type { PolicyName } from '../sched/policy'
import type { DirectFileHandle } from './file'
import type { IoContext } from './context'

/** Options for {@link open}. */
export interface OpenOptions {
  /** File mode for created files. Default 0o666. */
  mode?: number
  /** Add O_DIRECT. Default true. Use false on filesystems without O_DIRECT (tmpfs). */
  direct?: boolean
  /** The context whose queue serves this file. Default: the thread's default context. */
  context?: IoContext
  /**
   * Copy misaligned reads and writes through aligned memory instead of
   * refusing them (the default for every call on this handle; each call can
   * override it with its own `bounce`). Default false: misalignment is EINVAL.
   */
  bounce?: boolean
}

/** Per-call options of read/write/readv/writev/sync/datasync. */
export interface IoOptions {
  /** Aborting it stops the request if it can still be stopped; see AbortError.stage. */
  signal?: AbortSignal
  /** Higher runs first; equal priorities are FIFO. Default 0. */
  priority?: number
  /** Writes only: all-or-nothing with respect to cancellation. */
  indivisible?: boolean
  /**
   * Milliseconds from now by which the request should be issued. Orders
   * requests under the context's `policy: 'deadline'` (earliest first);
   * the default policy ignores it. A missed deadline is not an error.
   */
  deadline?: number
  /**
   * read/write/readv/writev: copy a misaligned buffer, position or length
   * through aligned memory instead of refusing it with EINVAL (counted in
   * `stats().bytes.bounced`). Default: the handle's `bounce` option (false).
   */
  bounce?: boolean
}

/** Options form of read/write, as in `fs.promises.FileHandle.read(buffer, options)`. */
export interface ReadOptions<T extends ArrayBufferView = Buffer> extends IoOptions {
  /** The buffer (for the `read({ buffer, ... })` form). */
  buffer?: T
  /** Where in the buffer to start, in bytes. Default 0. */
  offset?: number
  /** Bytes to transfer. Default: the rest of the buffer after `offset`. */
  length?: number
  /** File position; `null`/`undefined`/-1 mean the handle's current position. */
  position?: number | bigint | null
}

/** Options form of write (same fields as {@link ReadOptions}). */
export type WriteOptions = ReadOptions<ArrayBufferView>

/** What read() resolves with. */
export interface ReadResult<T extends ArrayBufferView> {
  /** Bytes read; fewer than asked only at end of file. */
  bytesRead: number
  /** The buffer that was passed in, owned by the caller again. */
  buffer: T
}
/** What write() resolves with. */
export interface WriteResult<T extends ArrayBufferView> {
  /** Bytes written. */
  bytesWritten: number
  /** The buffer that was passed in, owned by the caller again. */
  buffer: T
}
/** What readv() resolves with. */
export interface ReadvResult<T extends ArrayBufferView> {
  /** Bytes read across all buffers, in order. */
  bytesRead: number
  /** The buffers that were passed in. */
  buffers: T[]
}
/** What writev() resolves with. */
export interface WritevResult<T extends ArrayBufferView> {
  /** Bytes written across all buffers, in order. */
  bytesWritten: number
  /** The buffers that were passed in. */
  buffers: T[]
}

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
  kernelCancel?: KernelCancel
  /**
   * How waiting requests are ordered per device. `'priority'` (default):
   * higher `priority` first, FIFO among equals. `'deadline'`: earliest
   * `deadline` first (requests without one last), then priority, then FIFO.
   */
  policy?: PolicyName
  /** Requests larger than this are split into chunks, checked for abort before each goes out. Default 512 KiB, never above the device's max_sectors_kb. */
  chunkSize?: number
  /** Chunks of one request in flight at once. Default 4. */
  maxChunksInFlight?: number
  /**
   * Give each AbortError the stack of the call that made the aborted request
   * (captured when the request is queued, which costs a few microseconds per
   * request). Default false, or true with `DIRECT_AIO_ABORT_STACKS=1`:
   * AbortErrors of settled requests carry no stack frames, which keeps a mass
   * abort cheap.
   */
  abortStacks?: boolean
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
