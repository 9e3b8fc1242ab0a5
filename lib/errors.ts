// Every error the package raises is built here, in the shapes Node users
// already match on: fs errors (code/errno/syscall/path), argument errors
// (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ...), and AbortError.
import * as util from 'node:util'
import { EINVAL } from './sys-constants'

export type Syscall = 'read' | 'write' | 'fsync' | 'fdatasync' | 'open' | 'close' | 'fstat' | 'ftruncate' | string

/**
 * A system error shaped like those of `node:fs`, e.g.
 * `EINVAL: invalid argument, read '/data/file'`. Match on `code`.
 */
export interface ErrnoError extends Error {
  /** The negative errno, as Node reports it (`-22` for `EINVAL`). */
  errno: number
  /** The errno's name: `'EINVAL'`, `'EIO'`, `'ENOSPC'`, `'EBADF'`... */
  code: string
  /** The operation that failed: `'read'`, `'write'`, `'fsync'`, `'fdatasync'`, `'open'`, `'close'`, or a ring call such as `'io_uring_setup'`. */
  syscall: string
  /** The file the operation was on, when there is one. */
  path?: string
}

/** Build a Node-fs-shaped error from a negative errno (as io_uring and libaio report). */
export function errnoError(res: number, syscall: Syscall, path?: string, detail?: string): ErrnoError {
  const errno = res > 0 ? -res : res
  let code = 'UNKNOWN'
  let desc = 'unknown error'
  try {
    const entry = util.getSystemErrorMap().get(errno)
    if (entry) [code, desc] = entry
  } catch {
    // fall through with UNKNOWN
  }
  let message = `${code}: ${desc}, ${syscall}`
  if (path !== undefined) message += ` '${path}'`
  if (detail) message += ` (${detail})`
  const err = new Error(message) as ErrnoError
  err.errno = errno
  err.code = code
  err.syscall = syscall
  if (path !== undefined) err.path = path
  Error.captureStackTrace(err, errnoError)
  return err
}

/** Where an aborted request was when the abort took effect. */
export type AbortStage = 'queued' | 'kernel' | 'issued'

/**
 * Rejection of an aborted request. `stage` says where the abort landed:
 * `'queued'` (never issued), `'kernel'` (the kernel cancelled it before it
 * reached the device) or `'issued'` (it had reached the block layer and ran).
 * `cause` is the signal's `reason`. The promise rejects only once the kernel
 * is done with the buffer, so the caller owns it again when this arrives.
 */
export class AbortError extends Error {
  /** Always `'AbortError'`, as for aborts elsewhere in Node.js. */
  override readonly name = 'AbortError'
  /** Always `'ABORT_ERR'`, as for aborts elsewhere in Node.js. */
  readonly code = 'ABORT_ERR'
  /** Where the abort landed. */
  readonly stage: AbortStage
  /** Exact number of bytes read or written before the request stopped. */
  readonly bytesTransferred: number
  /** Byte ranges of the file, `[start, end)`, that did reach the device (merged, in file order; empty unless `stage` is `'issued'`). */
  readonly ranges: Array<[number, number]>
  /**
   * Built by direct-aio when a request settles after an abort; `cause` is the
   * signal's reason, `bytesRequested` the request's length (when known, an
   * 'issued' abort that moved less says "partially completed").
   */
  constructor(stage: AbortStage, bytesTransferred: number, ranges: Array<[number, number]>, cause: unknown, bytesRequested?: number) {
    super(
      stage === 'queued'
        ? 'The operation was aborted before it was issued'
        : stage === 'kernel'
          ? 'The operation was aborted; the kernel cancelled it before it reached the device'
          : bytesRequested !== undefined && bytesTransferred < bytesRequested
            ? `The operation was aborted after part of it had reached the device: partially completed: ${bytesTransferred} of ${bytesRequested} bytes`
            : `The operation was aborted too late: it had reached the device (${bytesTransferred} bytes transferred)`,
      { cause },
    )
    this.stage = stage
    this.bytesTransferred = bytesTransferred
    this.ranges = ranges
  }
}

/**
 * Every AbortError direct-aio reports is built here. `requested` is the
 * request's length when known (see AbortError). `stack`: left out, the
 * stack of abortError's caller (as `new AbortError` there would have);
 * `null`, none at all (the default of a settled request: capturing it was
 * most of the cost of settling a mass abort); a string, the frames of that
 * stack (the call site captured under `abortStacks`) under this error's
 * name and message.
 */
export function abortError(stage: AbortStage, bytesTransferred: number, ranges: Array<[number, number]>, cause: unknown, o: { requested?: number; stack?: string | null } = {}): AbortError {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  let err: AbortError
  try {
    err = new AbortError(stage, bytesTransferred, ranges, cause, o.requested)
  } finally {
    Error.stackTraceLimit = limit
  }
  if (o.stack === undefined) Error.captureStackTrace(err, abortError)
  else if (o.stack !== null) err.stack = `${err.name}: ${err.message}${o.stack.slice(o.stack.indexOf('\n'))}`
  return err
}

export interface CodedError extends Error {
  code: string
}

function coded<E extends Error>(err: E, code: string, fn: Function): E & CodedError {
  const e = err as E & CodedError
  e.code = code
  Error.captureStackTrace(e, fn)
  return e
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'bigint') return `type bigint (${value}n)`
  if (typeof value === 'number') return `type number (${value})`
  if (typeof value === 'string') return `type string ('${value.length > 28 ? value.slice(0, 25) + '...' : value}')`
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const ctor = (value as object).constructor
    return ctor && ctor.name ? `an instance of ${ctor.name}` : 'an object'
  }
  return `type ${typeof value}`
}

export function invalidArgType(name: string, expected: string, value: unknown): TypeError & CodedError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_TYPE', invalidArgType)
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError & CodedError {
  return coded(new TypeError(`The argument '${name}' ${reason}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE', invalidArgValue)
}

export function outOfRange(name: string, range: string, value: unknown): RangeError & CodedError {
  const shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'number' ? String(value) : describe(value)
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), 'ERR_OUT_OF_RANGE', outOfRange)
}

/** Memory could not be allocated (Node's code for the same failure). */
export function memoryAllocationFailed(size: number): RangeError & CodedError {
  return coded(new RangeError(`Failed to allocate memory: ${size} bytes`), 'ERR_MEMORY_ALLOCATION_FAILED', memoryAllocationFailed)
}

/** Using an IoContext after close(). */
export function contextClosed(): Error & CodedError {
  return coded(new Error('The IoContext is closed'), 'ERR_DIRECT_AIO_CONTEXT_CLOSED', contextClosed)
}

/** A backend that was asked for by name and is not available here. */
export function backendUnavailable(name: string, reason: string): Error & CodedError {
  return coded(new Error(`The ${name} backend is not available: ${reason}`), 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE', backendUnavailable)
}

/** O_DIRECT alignment violations are EINVAL, said plainly before the kernel says it tersely. */
export function misaligned(syscall: Syscall, path: string, what: string, value: number, alignment: number): ErrnoError {
  const shown = what === 'buffer address' ? `0x${value.toString(16)}` : String(value)
  return errnoError(
    EINVAL,
    syscall,
    path,
    `O_DIRECT needs the ${what} to be a multiple of ${alignment}; got ${shown}` +
      (what === 'buffer address' ? '. Allocate the buffer with allocAligned()' : '. Round it with alignUp()/alignDown()'),
  )
}

/**
 * A view of allocAligned() memory that starts off its aligned boundary: say
 * which byteOffset it has and which it needs, not "use allocAligned()".
 */
export function misalignedView(syscall: Syscall, path: string, addr: number, alignment: number, byteOffset: number, alignedStart: number): ErrnoError {
  const fix = alignedStart === 0 ? `a multiple of ${alignment}` : `${alignedStart} plus a multiple of ${alignment}`
  return errnoError(
    EINVAL,
    syscall,
    path,
    `O_DIRECT needs the buffer address to be a multiple of ${alignment}; got 0x${addr.toString(16)}: the memory comes from allocAligned(), but this view (with its offset) starts at byteOffset ${byteOffset} of its ArrayBuffer, ` +
      `and only byteOffsets of ${fix} are aligned there (allocAligned() returned the view at byteOffset ${alignedStart}). ` +
      `Pass that Buffer, or a subarray of it at a multiple of ${alignment}; a view built from its .buffer must add its .byteOffset; or use { bounce: true }`,
  )
}

/** `new X()` of a class whose instances only the library makes. */
export function illegalConstructor(name: string, use: string): TypeError & CodedError {
  return coded(new TypeError(`Illegal constructor: ${name} instances come from ${use}`), 'ERR_ILLEGAL_CONSTRUCTOR', illegalConstructor)
}

/** A positional write on a handle opened for appending, refused before the kernel sees it. */
export function appendPositioned(path: string): ErrnoError {
  return errnoError(EINVAL, 'write', path, "this handle was opened for appending ('a', 'a+', ...): every write goes to the end of the file; omit the position, or open with 'r+' for positional writes")
}

/** open() refusing a case where appending cannot be done soundly, with advice. */
export function appendRefused(res: number, path: string, why: string): ErrnoError {
  return errnoError(res, 'open', path, why)
}

/** A file too large for one Buffer (as `fs.readFile` reports it). */
export function fileTooLarge(size: number, max: number): RangeError & CodedError {
  return coded(new RangeError(`File size (${size}) is greater than ${max} bytes, the largest Buffer possible`), 'ERR_FS_FILE_TOO_LARGE', fileTooLarge)
}

/** A BufferPool buffer released while an operation the pool tracks still uses it. */
export function bufferInUse(what: string): Error & CodedError {
  return coded(
    new Error(`The buffer is still in use by ${what}; release it only after that operation has settled (await it first)`),
    'ERR_DIRECT_AIO_BUFFER_IN_USE',
    bufferInUse,
  )
}

/** A BufferPool with every buffer acquired. */
export function poolExhausted(count: number): Error & CodedError {
  return coded(new Error(`All ${count} buffers of this BufferPool are acquired; release one first or make the pool larger`), 'ERR_DIRECT_AIO_POOL_EXHAUSTED', poolExhausted)
}
