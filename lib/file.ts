// DirectFileHandle: open with O_DIRECT, validate every argument (types,
// ranges, O_DIRECT alignment) before anything is queued, and turn calls into
// Requests for the context's queue.
import * as fs from 'node:fs'
import { markAsUntransferable } from 'node:worker_threads'
import { addressOf, holdAligned, isLibraryOwned, releaseAligned } from './aligned'
import { BackendName, OP_FDATASYNC, OP_FSYNC, OP_READ, OP_WRITE } from './backends/backend'
import { preAborted, watchSignal } from './cancel'
import { ContextInternals, defaultContext, fstatDev, GroupOp, IoContext, kInternals } from './context'
import { errnoError, ErrnoError, invalidArgType, invalidArgValue, misaligned, outOfRange } from './errors'
import { alignmentOfFd } from './kernel'
import type { DeviceQueue, Scheduler } from './queue'
import { Group, Request } from './request'

/** Options for {@link open}. */
export interface OpenOptions {
  /** File mode for created files. Default 0o666. */
  mode?: number
  /** Add O_DIRECT. Default true. Use false on filesystems without O_DIRECT (tmpfs). */
  direct?: boolean
  /** The context whose queue serves this file. Default: the thread's default context. */
  context?: IoContext
}

/** Per-call options of read/write/readv/writev/sync/datasync. */
export interface IoOptions {
  /** Aborting it stops the request if it can still be stopped; see AbortError.stage. */
  signal?: AbortSignal
  /** Higher runs first; equal priorities are FIFO. Default 0. */
  priority?: number
  /** Writes only: all-or-nothing with respect to cancellation. */
  indivisible?: boolean
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

const { O_DIRECT, O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC } = fs.constants

const FLAGS: Record<string, number> = {
  r: O_RDONLY,
  rs: O_RDONLY | O_SYNC,
  sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR,
  'rs+': O_RDWR | O_SYNC,
  'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR,
  'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
}

function parseFlags(flags: unknown): number {
  if (flags === undefined || flags === null) return O_RDONLY
  if (typeof flags === 'number') {
    if (!Number.isInteger(flags) || flags < 0 || flags > 0x7fffffff) throw outOfRange('flags', 'a non-negative 32-bit integer', flags)
    return flags
  }
  if (typeof flags === 'string') {
    const f = FLAGS[flags]
    if (f === undefined) throw invalidArgValue('flags', flags, 'is invalid')
    return f
  }
  throw invalidArgType('flags', 'of type string or number', flags)
}

function isView(v: unknown): v is ArrayBufferView {
  return ArrayBuffer.isView(v)
}

const MAX_POSITION = Number.MAX_SAFE_INTEGER

/** null/undefined/-1 mean "current position" (-1 returned). */
function parsePosition(position: unknown): number {
  if (position === undefined || position === null) return -1
  if (typeof position === 'bigint') {
    if (position === -1n) return -1
    if (position < 0n || position > BigInt(MAX_POSITION)) throw outOfRange('position', `>= 0 && <= ${MAX_POSITION}`, position)
    return Number(position)
  }
  if (typeof position !== 'number') throw invalidArgType('position', 'of type number or bigint', position)
  if (position === -1) return -1
  if (!Number.isInteger(position)) throw outOfRange('position', 'an integer', position)
  if (position < 0 || position > MAX_POSITION) throw outOfRange('position', `>= 0 && <= ${MAX_POSITION}`, position)
  return position
}

function checkView(name: string, v: unknown): ArrayBufferView {
  if (!isView(v)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', v)
  const ab = v.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean }
  if (ab.resizable === true || ab.growable === true) {
    throw invalidArgValue(name, v, 'must not be backed by a resizable ArrayBuffer (its memory may move while the kernel uses it)')
  }
  return v
}

function checkIoOptions(o: IoOptions | undefined): { signal: AbortSignal | undefined; priority: number; indivisible: boolean } {
  if (o === undefined || o === null) return { signal: undefined, priority: 0, indivisible: false }
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
  const signal = o.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', signal)
  const priority = o.priority ?? 0
  if (typeof priority !== 'number') throw invalidArgType('options.priority', 'of type number', priority)
  if (!Number.isSafeInteger(priority)) throw outOfRange('options.priority', 'a safe integer', priority)
  const indivisible = o.indivisible ?? false
  if (typeof indivisible !== 'boolean') throw invalidArgType('options.indivisible', 'of type boolean', indivisible)
  return { signal, priority, indivisible }
}

interface Submission {
  kind: number
  views: ArrayBufferView[]
  vectored: boolean
  byteOffset: number
  length: number
  position: number
  signal: AbortSignal | undefined
  priority: number
  indivisible: boolean
  group: Group | null
}

// Like fs.promises.FileHandle: a handle collected while still open closes
// its descriptor, with a warning (the program should have called close()).
const leakedFds = new FinalizationRegistry<{ fd: number; path: string }>(({ fd, path }) => {
  process.emitWarning(`Closing file descriptor ${fd} (${path}) on garbage collection; call close() on DirectFileHandle`, 'Warning', 'DIRECT_AIO_UNCLOSED_HANDLE')
  fs.close(fd, () => {})
})

// A buffer handed to the kernel must not be transferred (detached) to
// another thread while the kernel may still write it: the receiver could
// free the memory. Like Node's own pooled Buffers, such buffers are marked
// untransferable: a transfer then copies instead of detaching. The mark is
// permanent for that ArrayBuffer.
const pinned = new WeakSet<ArrayBufferLike>()
function pin(views: ArrayBufferView[]): void {
  for (const v of views) {
    const ab = v.buffer
    if (pinned.has(ab) || isLibraryOwned(ab)) continue
    if (!(ab instanceof SharedArrayBuffer)) markAsUntransferable(ab)
    pinned.add(ab)
  }
}

/** Resolves once every promise has settled; rejects with a 'queued' AbortError if `signal` aborts first. */
function afterAll(promises: Promise<unknown>[], signal: AbortSignal | undefined): Promise<void> {
  const all = Promise.allSettled(promises).then(() => undefined)
  if (!signal) return all
  if (signal.aborted) return Promise.reject(preAborted(signal))
  return new Promise<void>((resolve, reject) => {
    const stop = watchSignal(signal, () => reject(preAborted(signal)))
    all.then(() => {
      stop()
      resolve()
    })
  })
}

const kSubmit = Symbol('direct-aio.submit')
const kValidate = Symbol('direct-aio.validate')

/**
 * An open file. Signatures follow `fs.promises.FileHandle`. Every operation
 * accepts `{ signal }`; see {@link AbortError} for what an abort reports.
 */
export class DirectFileHandle {
  /** The file descriptor (opened with O_DIRECT unless `direct: false`). */
  readonly fd: number
  /** The path given to open(). */
  readonly path: string
  /** O_DIRECT alignment: buffer addresses must be multiples of `memory`; positions and lengths of `offset`. */
  readonly alignment: { memory: number; offset: number }
  /** Whether the file was opened with O_DIRECT. */
  readonly direct: boolean
  /** The context whose queue serves this file. */
  readonly context: IoContext
  /**
   * The backend that serves this file: the context's, except that on a libaio
   * context a file libaio would do synchronously (buffered I/O, character
   * devices) is served by the context's thread pool, so the event loop never blocks.
   */
  readonly backend: BackendName
  readonly #ctx: ContextInternals
  readonly #sched: Scheduler
  readonly #device: DeviceQueue
  readonly #chunkSize: number
  #pos = 0
  /** Where a position-less read last found the end of the file (-1: unknown). */
  #eof = -1
  #closed = false
  #closing: Promise<void> | null = null
  #outstanding = 0
  #idle: Array<() => void> = []
  /** Writes issued on this handle and not yet settled: what the next sync()/datasync() must wait for. */
  readonly #writes = new Set<Promise<number>>()

  /** @internal use open() */
  constructor(fd: number, path: string, direct: boolean, context: IoContext, dev: number, pos: number, alignment: { memory: number; offset: number }, maxSectorsBytes: number | null, pool = false) {
    this.fd = fd
    this.path = path
    this.direct = direct
    this.context = context
    this.#ctx = context[kInternals]
    this.alignment = alignment
    const route = this.#ctx.route(dev, pool)
    this.#sched = route.scheduler
    this.#device = route.device
    this.backend = route.backend
    this.#pos = pos
    let chunk = this.#ctx.chunkSize
    if (maxSectorsBytes && maxSectorsBytes >= 4096) chunk = Math.min(chunk, maxSectorsBytes)
    chunk = Math.max(alignment.offset, Math.floor(chunk / Math.max(alignment.offset, 4096)) * Math.max(alignment.offset, 4096))
    this.#chunkSize = chunk
    leakedFds.register(this, { fd, path }, this)
  }

  #checkUsable(syscall: string): void {
    if (this.#closed) throw errnoError(-9, syscall, this.path)
    this.#ctx.checkOpen()
  }

  /** Check an (address, length, position) triple against O_DIRECT alignment. */
  [kValidate](syscall: string, views: ArrayBufferView[], offsets: number[], lengths: number[], position: number): void {
    if (!this.direct) return
    const { memory, offset } = this.alignment
    if (position >= 0 && position % offset !== 0) throw misaligned(syscall, this.path, 'position', position, offset)
    for (let i = 0; i < views.length; i++) {
      if (lengths[i] === 0) continue
      const addr = addressOf(views[i], offsets[i])
      if (addr % memory !== 0) throw misaligned(syscall, this.path, 'buffer address', addr, memory)
      if (lengths[i] % offset !== 0) throw misaligned(syscall, this.path, 'length', lengths[i], offset)
    }
  }

  /** @internal */
  [kSubmit](syscall: string, s: Submission): { promise: Promise<number>; req: Request | null } {
    if (s.signal?.aborted) return { promise: Promise.reject(preAborted(s.signal)), req: null }
    const positioned = s.position >= 0
    let position = s.position
    if (!positioned && s.kind <= OP_WRITE) {
      position = this.#pos
      // The tracked position can be unaligned after a short read at EOF.
      // Reading on from there is reading at EOF: 0 bytes, as read(2) says.
      // Anything else from an unaligned position would fail in the kernel.
      if (this.direct && position % this.alignment.offset !== 0) {
        if (s.kind === OP_READ && position === this.#eof) return { promise: Promise.resolve(0), req: null }
        throw misaligned(syscall, this.path, 'file position', position, this.alignment.offset)
      }
      this.#pos += s.length
    }
    pin(s.views)
    const held = holdAligned(s.views) // allocAligned memory stays allocated until the request settles
    const sched = this.#sched
    const req = new Request(
      {
        owner: this,
        kind: s.kind,
        syscall,
        fd: this.fd,
        path: this.path,
        device: this.#device,
        views: s.views,
        vectored: s.vectored,
        byteOffset: s.byteOffset,
        length: s.length,
        position,
        priority: s.priority,
        chunkSize: this.#chunkSize,
        maxChunksInFlight: this.#ctx.maxChunksInFlight,
        indivisible: s.indivisible,
        group: s.group,
      },
      performance.now(),
    )
    this.#outstanding++
    const promise = new Promise<number>((resolve, reject) => {
      req.resolve = resolve
      req.reject = reject
    })
    const stop = s.signal ? watchSignal(s.signal, (reason) => sched.abort(req, reason)) : null
    req.onSettle = () => {
      releaseAligned(held)
      if (stop) stop()
      if (!positioned && s.kind <= OP_WRITE) {
        const got = req.contiguousBytes()
        if (got < s.length && this.#pos === position + s.length) {
          this.#pos = position + got
          if (s.kind === OP_READ && req.error === 0 && !req.aborted) this.#eof = this.#pos
        }
      }
      if (--this.#outstanding === 0 && this.#idle.length > 0) {
        const w = this.#idle
        this.#idle = []
        for (const f of w) f()
      }
    }
    sched.enqueue(req)
    if (s.kind === OP_WRITE) {
      const writes = this.#writes
      writes.add(promise)
      const forget = () => {
        writes.delete(promise)
      }
      promise.then(forget, forget)
    }
    return { promise, req }
  }

  #single(syscall: 'read' | 'write', kind: number, buffer: unknown, offsetOrOptions: unknown, length: unknown, position: unknown): Promise<number> & { view?: ArrayBufferView } {
    let opts: ReadOptions<ArrayBufferView> | undefined
    let buf = buffer
    let off: unknown = offsetOrOptions
    let len: unknown = length
    let pos: unknown = position
    if (!isView(buf) && buf !== null && typeof buf === 'object') {
      // read({ buffer, offset, length, position, signal })
      opts = buf as ReadOptions<ArrayBufferView>
      buf = opts.buffer
      off = opts.offset
      len = opts.length
      pos = opts.position
    } else if (offsetOrOptions !== null && typeof offsetOrOptions === 'object') {
      opts = offsetOrOptions as ReadOptions<ArrayBufferView>
      off = opts.offset
      len = opts.length
      pos = opts.position
    }
    const view = checkView('buffer', buf)
    const offset = off ?? 0
    if (typeof offset !== 'number') throw invalidArgType('offset', 'of type number', offset)
    if (!Number.isInteger(offset) || offset < 0 || offset > view.byteLength) throw outOfRange('offset', `an integer >= 0 && <= ${view.byteLength}`, offset)
    const count = len ?? view.byteLength - offset
    if (typeof count !== 'number') throw invalidArgType('length', 'of type number', count)
    if (!Number.isInteger(count) || count < 0 || count > view.byteLength - offset) {
      throw outOfRange('length', `an integer >= 0 && <= ${view.byteLength - offset}`, count)
    }
    const p = parsePosition(pos)
    const io = checkIoOptions(opts)
    if (io.indivisible && kind === OP_READ) throw invalidArgValue('options.indivisible', true, 'applies to writes only')
    this.#checkUsable(syscall)
    if (count === 0) {
      if (io.signal?.aborted) return Promise.reject(preAborted(io.signal))
      return Promise.resolve(0)
    }
    this[kValidate](syscall, [view], [offset], [count], p)
    return this[kSubmit](syscall, {
      kind,
      views: [view],
      vectored: false,
      byteOffset: offset,
      length: count,
      position: p,
      signal: io.signal,
      priority: io.priority,
      indivisible: io.indivisible,
      group: null,
    }).promise
  }

  /** Read into `buffer`. Resolves with the bytes read (fewer at end of file) and the same buffer. */
  read<T extends ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<ReadResult<T>>
  read<T extends ArrayBufferView>(buffer: T, options: ReadOptions<T>): Promise<ReadResult<T>>
  read<T extends ArrayBufferView>(options: ReadOptions<T> & { buffer: T }): Promise<ReadResult<T>>
  async read<T extends ArrayBufferView>(buffer: unknown, offsetOrOptions?: unknown, length?: unknown, position?: unknown): Promise<ReadResult<T>> {
    const target = (isView(buffer) ? buffer : (buffer as { buffer?: unknown } | null)?.buffer) as T
    const bytesRead = await this.#single('read', OP_READ, buffer, offsetOrOptions, length, position)
    return { bytesRead, buffer: target }
  }

  /** Write from `buffer`. Resolves with the bytes written and the same buffer. */
  write<T extends ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<WriteResult<T>>
  write<T extends ArrayBufferView>(buffer: T, options: WriteOptions): Promise<WriteResult<T>>
  async write<T extends ArrayBufferView>(buffer: unknown, offsetOrOptions?: unknown, length?: unknown, position?: unknown): Promise<WriteResult<T>> {
    const target = (isView(buffer) ? buffer : (buffer as { buffer?: unknown } | null)?.buffer) as T
    const bytesWritten = await this.#single('write', OP_WRITE, buffer, offsetOrOptions, length, position)
    return { bytesWritten, buffer: target }
  }

  #vector(syscall: 'read' | 'write', kind: number, buffers: unknown, position: unknown, options: unknown): Promise<number> {
    if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an instance of Array', buffers)
    const views = buffers.map((b, i) => checkView(`buffers[${i}]`, b))
    if (views.length > 1024) throw outOfRange('buffers.length', '<= 1024 (IOV_MAX)', views.length)
    if (position !== null && typeof position === 'object' && options === undefined) {
      options = position
      position = (options as ReadOptions).position
    }
    const p = parsePosition(position)
    const io = checkIoOptions(options as IoOptions | undefined)
    if (io.indivisible && kind === OP_READ) throw invalidArgValue('options.indivisible', true, 'applies to writes only')
    this.#checkUsable(syscall)
    let total = 0
    for (const v of views) total += v.byteLength
    if (total === 0) {
      if (io.signal?.aborted) return Promise.reject(preAborted(io.signal))
      return Promise.resolve(0)
    }
    this[kValidate](syscall, views, views.map(() => 0), views.map((v) => v.byteLength), p)
    return this[kSubmit](syscall, {
      kind,
      views,
      vectored: true,
      byteOffset: 0,
      length: total,
      position: p,
      signal: io.signal,
      priority: io.priority,
      indivisible: io.indivisible,
      group: null,
    }).promise
  }

  /** Scatter read into `buffers`, in order. */
  async readv<T extends ArrayBufferView>(buffers: T[], position?: number | bigint | null, options?: IoOptions): Promise<ReadvResult<T>> {
    const bytesRead = await this.#vector('read', OP_READ, buffers, position, options)
    return { bytesRead, buffers }
  }

  /** Gather write from `buffers`, in order. */
  async writev<T extends ArrayBufferView>(buffers: T[], position?: number | bigint | null, options?: IoOptions): Promise<WritevResult<T>> {
    const bytesWritten = await this.#vector('write', OP_WRITE, buffers, position, options)
    return { bytesWritten, buffers }
  }

  #sync(syscall: 'fsync' | 'fdatasync', kind: number, options: unknown): Promise<void> {
    const io = checkIoOptions(options as IoOptions | undefined)
    this.#checkUsable(syscall)
    const submit = (): Promise<void> =>
      this[kSubmit](syscall, {
        kind,
        views: [],
        vectored: false,
        byteOffset: 0,
        length: 0,
        position: 0,
        signal: io.signal,
        priority: io.priority,
        indivisible: false,
        group: null,
      }).promise.then(() => undefined)
    // The durability contract: a sync covers every write issued earlier on
    // this handle. Neither the kernel nor the queue orders an fsync after
    // writes still in flight, so the sync waits here, before it is queued,
    // until each of them has settled (an abort meanwhile drops it: 'queued').
    if (this.#writes.size === 0) return submit()
    const prior = Array.from(this.#writes)
    // Tracked until the sync itself settles, so close() cannot release the fd in between.
    return this.#track(afterAll(prior, io.signal).then(submit))
  }

  /** fsync(2) through the ring. */
  sync(options?: IoOptions): Promise<void> {
    try {
      return this.#sync('fsync', OP_FSYNC, options)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** fdatasync(2) through the ring. */
  datasync(options?: IoOptions): Promise<void> {
    try {
      return this.#sync('fdatasync', OP_FDATASYNC, options)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#outstanding++
    const done = () => {
      if (--this.#outstanding === 0 && this.#idle.length > 0) {
        const w = this.#idle
        this.#idle = []
        for (const f of w) f()
      }
    }
    return p.finally(done)
  }

  /** fstat(2). */
  async stat(): Promise<fs.Stats> {
    this.#checkUsable('fstat')
    return this.#track(fstatDev(this.fd))
  }

  /** ftruncate(2). Default length 0. */
  async truncate(len = 0): Promise<void> {
    if (typeof len !== 'number') throw invalidArgType('len', 'of type number', len)
    if (!Number.isInteger(len) || len < 0 || len > MAX_POSITION) throw outOfRange('len', `an integer >= 0 && <= ${MAX_POSITION}`, len)
    if (this.direct && len % this.alignment.offset !== 0) {
      // Allowed by the kernel, but later O_DIRECT reads of the tail are short; keep it legal.
    }
    this.#checkUsable('ftruncate')
    return this.#track(new Promise<void>((resolve, reject) => fs.ftruncate(this.fd, len, (err) => (err ? reject(err) : resolve()))))
  }

  /** Wait for this file's outstanding requests, then close the descriptor. Later calls reject with EBADF. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closed = true
    leakedFds.unregister(this)
    const idle = this.#outstanding === 0 ? Promise.resolve() : new Promise<void>((r) => this.#idle.push(r))
    this.#closing = idle.then(
      () =>
        new Promise<void>((resolve, reject) =>
          fs.close(this.fd, (err) => (err ? reject(errnoError(err.errno ?? -5, 'close', this.path)) : resolve())),
        ),
    )
    return this.#closing
  }

  /** `await using file = await open(...)` closes the file at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal for group(): submit one member. */
  static [kSubmit](file: DirectFileHandle, op: GroupOp, index: number, group: Group, indivisible: boolean, priority: number): () => { promise: Promise<number>; abort(reason: unknown): void } {
    if (!(file instanceof DirectFileHandle)) throw invalidArgType(`ops[${index}].file`, 'a DirectFileHandle', file)
    const kindName = op.op ?? 'write'
    if (kindName !== 'write' && kindName !== 'read') throw invalidArgValue(`ops[${index}].op`, kindName, "must be 'read' or 'write'")
    const syscall = kindName
    const view = checkView(`ops[${index}].buffer`, op.buffer)
    const offset = op.offset ?? 0
    if (typeof offset !== 'number') throw invalidArgType(`ops[${index}].offset`, 'of type number', offset)
    if (!Number.isInteger(offset) || offset < 0 || offset > view.byteLength) throw outOfRange(`ops[${index}].offset`, `an integer >= 0 && <= ${view.byteLength}`, offset)
    const length = op.length ?? view.byteLength - offset
    if (typeof length !== 'number') throw invalidArgType(`ops[${index}].length`, 'of type number', length)
    if (!Number.isInteger(length) || length < 0 || length > view.byteLength - offset) throw outOfRange(`ops[${index}].length`, `an integer >= 0 && <= ${view.byteLength - offset}`, length)
    const p = parsePosition(op.position)
    if (p < 0) throw outOfRange(`ops[${index}].position`, '>= 0', op.position)
    file.#checkUsable(syscall)
    file[kValidate](syscall, [view], [offset], [length], p)
    // Everything is validated; submission waits until every member of the
    // group has passed validation, so a bad member issues nothing.
    return () => {
    const { promise, req } = file[kSubmit](syscall, {
      kind: kindName === 'write' ? OP_WRITE : OP_READ,
      views: [view],
      vectored: false,
      byteOffset: offset,
      length,
      position: p,
      signal: undefined,
      priority,
      indivisible,
      group: indivisible ? group : null,
    })
    const sched = file.#sched
    return { promise, abort: (reason: unknown) => { if (req) sched.abort(req, reason) } }
    }
  }
}

/** @internal */
export function submitGroupMember(ctx: IoContext, op: GroupOp, index: number, group: Group, indivisible: boolean, priority: number) {
  if (op === null || typeof op !== 'object') throw invalidArgType(`ops[${index}]`, 'of type object', op)
  if (op.file?.context !== ctx) throw invalidArgValue(`ops[${index}].file`, op.file, 'must belong to this IoContext')
  return DirectFileHandle[kSubmit](op.file, op, index, group, indivisible, priority)
}

const TMPFS_MAGIC = 0x01021994
const RAMFS_MAGIC = 0x858458f6

/**
 * Since Linux 6.6 tmpfs accepts O_DIRECT at open but serves it from the page
 * cache, so "direct" I/O there is neither direct nor alignment-checked.
 * Refuse it as older kernels did, with the same advice.
 */
async function refuseFakeDirect(fd: number, path: string): Promise<void> {
  let type: number
  try {
    // Device nodes live on devtmpfs, which reports the tmpfs magic too.
    if (!(await fstatDev(fd)).isFile()) return
    type = (await fs.promises.statfs(path)).type
  } catch {
    return
  }
  if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) {
    await new Promise<void>((resolve) => fs.close(fd, () => resolve()))
    const err = new Error('tmpfs') as NodeJS.ErrnoException
    err.code = 'EINVAL'
    throw err
  }
}

/**
 * libaio is asynchronous only for O_DIRECT I/O on regular files and block
 * devices: anything else (buffered I/O, character devices, FIFOs) is done
 * inline in io_submit, which blocks the event loop (a read of an empty FIFO
 * froze it indefinitely). Such files go to the context's thread pool. FIFOs and
 * sockets are refused outside io_uring: a read that waits for a writer would
 * hold a pool thread that no abort can release.
 */
function needsThreadPool(backend: BackendName, direct: boolean, st: fs.Stats, path: string): boolean {
  if (backend === 'io_uring') return false
  if (st.isFIFO() || st.isSocket()) {
    const what = st.isFIFO() ? 'a FIFO' : 'a socket'
    throw errnoError(-22, 'open', path, `${what} can wait forever for its peer, and only io_uring waits without holding a thread that no abort can release; this context runs on ${backend}: use fs for pipes, or an IoContext({ backend: 'io_uring' })`)
  }
  if (backend !== 'libaio') return false
  return !(direct && (st.isFile() || st.isBlockDevice()))
}

function openFd(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))))
}

/**
 * Open a file for direct I/O. `flags` as in `fs.open` ('r', 'r+', 'w', 'w+',
 * 'a', ... or a number); O_DIRECT is added unless `direct: false`.
 */
export async function open(path: string | Buffer | URL, flags?: string | number, options?: OpenOptions): Promise<DirectFileHandle> {
  let p: string
  if (typeof path === 'string') p = path
  else if (Buffer.isBuffer(path)) p = path.toString()
  else if (path instanceof URL) p = require('node:url').fileURLToPath(path)
  else throw invalidArgType('path', 'of type string or an instance of Buffer or URL', path)
  if (p.includes('\u0000')) throw invalidArgValue('path', p, 'must be a string without null bytes')
  const f = parseFlags(flags)
  const o = options ?? {}
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
  const mode = o.mode ?? 0o666
  if (typeof mode !== 'number') throw invalidArgType('options.mode', 'of type number', mode)
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw outOfRange('options.mode', 'an integer >= 0 && <= 0o7777', mode)
  const direct = o.direct ?? true
  if (typeof direct !== 'boolean') throw invalidArgType('options.direct', 'of type boolean', direct)
  const context = o.context ?? defaultContext()
  if (!(context instanceof IoContext)) throw invalidArgType('options.context', 'an instance of IoContext', context)
  context[kInternals].checkOpen()
  let fd: number
  try {
    fd = await openFd(p, direct ? f | O_DIRECT : f, mode)
    if (direct) await refuseFakeDirect(fd, p)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (direct && err.code === 'EINVAL') {
      throw errnoError(-22, 'open', p, 'this filesystem does not support O_DIRECT (tmpfs does not); open with { direct: false } for buffered I/O')
    }
    throw errnoError(typeof err.errno === 'number' ? err.errno : -5, 'open', p) as ErrnoError
  }
  try {
    const st = await fstatDev(fd)
    const dev = st.isBlockDevice() ? st.rdev : st.dev
    const align = direct ? alignmentOfFd(fd, dev) : { memory: 1, offset: 1 }
    const { deviceInfo } = require('./kernel') as typeof import('./kernel')
    const info = deviceInfo(dev)
    const pos = f & O_APPEND ? st.size : 0
    const pool = needsThreadPool(context.backend, direct, st, p)
    return new DirectFileHandle(fd, p, direct, context, dev, pos, align, info.maxSectorsKb ? info.maxSectorsKb * 1024 : null, pool)
  } catch (e) {
    fs.close(fd, () => {})
    throw e
  }
}
