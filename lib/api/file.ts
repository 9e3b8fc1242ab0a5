// DirectFileHandle: one open file. Every call is validated (types, ranges,
// O_DIRECT alignment) before anything is queued, then becomes a Request for
// the context's scheduler. The handle tracks the current position, pins the
// buffers it hands to the kernel, and closes a leaked descriptor on GC.
import * as fs from 'node:fs'
import { addressOf, holdAligned, releaseAligned } from '../aligned'
import { appendPositioned, errnoError, illegalConstructor, misaligned } from '../errors'
import { fstatBigint, fstatDev } from '../platform/device'
import { alreadyAborted, captureCallSite, watchSignal } from '../sched/cancel'
import type { LinkedNode } from '../linked-set'
import type { DeviceQueue } from '../sched/device-queue'
import { listOf, Request } from '../sched/request'
import type { Scheduler } from '../sched/scheduler'
import type { BackendName } from '../backends/registry'
import { EBADF, EIO, OP_FDATASYNC, OP_FSYNC, OP_READ, OP_WRITE, movesBytes } from '../sys-constants'
import { checkFileLength, checkIoOptions, checkStatOptions, withReadBuffer, IoFields, isView, misalignment, parseRwArgs, parseVectorArgs } from '../validate'
import type { IoContext } from './context'
import { AlignedIo, ContextInternals, Enqueued, HandleInit, handles, kConstruct, kInternals, kTrack, Submission } from './internals'
import { leakedFds, Outstanding, pin } from './ownership'
import * as app from './app'
import type { ReadableStream } from 'node:stream/web'
import type { IoOptions, ReadOptions, ReadResult, ReadvResult, WriteOptions, WriteResult, WritevResult } from './types'

/** @internal */
export const kCheck = Symbol('direct-aio.check')
/** @internal */
export const kEnqueue = Symbol('direct-aio.enqueue')

// A request's promise, with its resolvers stored on the request. Made here,
// in a scope that holds nothing but `req`. A closure the request keeps that
// was made in the same scope as the promise's executor (as when all of them
// were made in DirectFileHandle[kEnqueue]) made V8's scavenges keep 20-70% of
// what an await loop allocated alive and promote it to old space until the
// next full GC (a fake-backend loop: 0.2% with the closures made apart). With
// completions delivered in small batches this showed as RSS steps of 20-30 MiB
// in test/leak.test.ts on Node 22 and 24. Measured, not explained: keep the
// closures a request keeps in scopes of their own.
function promiseFor(req: Request, target: ArrayBufferView | null): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (target === null) req.resolve = resolve
    else if (req.kind === OP_READ) req.resolve = (n) => (resolve as unknown as (r: ReadResult<ArrayBufferView>) => void)(readResult(n, target))
    else req.resolve = (n) => (resolve as unknown as (r: WriteResult<ArrayBufferView>) => void)(writeResult(n, target))
    req.reject = reject
  })
}

// Plain objects, as fs.promises resolves with, but filled in rather than
// written as a `{ bytesRead, buffer }` literal: V8 tenures a literal when a
// scavenge finds nearly all its recent objects alive (see newList() in
// sched/request.ts), and the results of a batch of completions are all alive
// until their continuations run. Node 24 tenured that literal (libaio, depth
// 32), moving every later result to old space.
function readResult(n: number, buffer: ArrayBufferView): ReadResult<ArrayBufferView> {
  const r = {} as ReadResult<ArrayBufferView>
  r.bytesRead = n
  r.buffer = buffer
  return r
}

function writeResult(n: number, buffer: ArrayBufferView): WriteResult<ArrayBufferView> {
  const r = {} as WriteResult<ArrayBufferView>
  r.bytesWritten = n
  r.buffer = buffer
  return r
}

/** What read() or write() resolves with, for a result that did not come from a request of its own (bounce, append, length 0). */
function shaped(kind: number, n: number, target: ArrayBufferView | null): unknown {
  if (target === null) return n
  return kind === OP_READ ? readResult(n, target) : writeResult(n, target)
}

function aborterFor(sched: Scheduler, req: Request): (reason: unknown) => void {
  return (reason) => sched.abort(req, reason)
}

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
  /** What close() and sync() wait for. */
  readonly #work = new Outstanding()
  /** Opened with O_APPEND: writes go to the end; positional writes are refused. */
  readonly #append: boolean
  readonly #dsync: boolean
  /** Default of the per-call `bounce` option (open's `bounce`). */
  readonly #bounce: boolean
  #appender: app.Appender | null = null
  #aio: AlignedIo | null = null

  /** Handles come from open(); the constructor is not part of the API. */
  private constructor(token: symbol, init: HandleInit) {
    if (token !== kConstruct) throw illegalConstructor('DirectFileHandle', 'open()')
    const { fd, path, alignment } = init
    this.fd = fd
    this.path = path
    this.direct = init.direct
    this.context = init.context
    this.#ctx = init.context[kInternals]
    this.alignment = alignment
    const route = this.#ctx.route(init.dev, init.pool)
    this.#sched = route.scheduler
    this.#device = route.device
    this.backend = route.backend
    this.#pos = init.pos
    this.#chunkSize = app.chunkSizeFor(this.#ctx.chunkSize, init.maxSectorsBytes, alignment.offset)
    this.#append = init.append
    this.#dsync = init.dsync
    this.#bounce = init.bounce
    // O_DIRECT cannot append at an unaligned end: append.ts does it (open() dropped O_APPEND).
    if (init.append && init.direct) this.#appender = new app.Appender(this.#alignedIo(), init.pos)
    leakedFds.register(this, { fd, path }, this)
    handles.add(this)
  }

  #checkUsable(syscall: string): void {
    if (this.#closed) throw errnoError(EBADF, syscall, this.path)
    this.#ctx.checkOpen()
  }

  /**
   * @internal Check that the handle is usable and that each (address,
   * length) and the position meet O_DIRECT alignment.
   */
  [kCheck](syscall: string, views: ArrayBufferView[], offsets: number[], lengths: number[], position: number): void {
    this.#checkUsable(syscall)
    const err = this.direct ? misalignment(syscall, this.path, this.alignment, views, offsets, lengths, position) : null
    if (err) throw err
  }

  /** @internal Turn a checked call into a Request and queue it. */
  [kEnqueue](syscall: string, s: Submission): Enqueued {
    const refused = alreadyAborted(s.signal)
    if (refused) return { promise: Promise.reject(refused), abort: () => {} }
    const positioned = s.position >= 0
    let position = s.position
    if (!positioned && movesBytes(s.kind)) {
      position = this.#pos
      // The tracked position can be unaligned after a short read at EOF.
      // Reading on from there is reading at EOF: 0 bytes, as read(2) says.
      // Anything else from an unaligned position would fail in the kernel.
      if (this.direct && position % this.alignment.offset !== 0) {
        if (s.kind === OP_READ && position === this.#eof) return { promise: Promise.resolve(shaped(s.kind, 0, s.target) as number), abort: () => {} }
        throw misaligned(syscall, this.path, 'file position', position, this.alignment.offset)
      }
      this.#pos += s.length
    }
    pin(s.views)
    const sched = this.#sched
    // allocAligned memory stays allocated until the request settles, or,
    // on a native ring, while the kernel has it (the ring holds it itself).
    const held = sched.backend.holdsLibraryMemory ? 0 : holdAligned(s.views)
    const req = new Request({ owner: this, kind: s.kind, syscall, fd: this.fd, path: this.path, device: this.#device, views: s.views, vectored: s.vectored, byteOffset: s.byteOffset,
      length: s.length, position, priority: s.priority, deadline: s.deadline, chunkSize: this.#chunkSize, maxChunksInFlight: this.#ctx.maxChunksInFlight, indivisible: s.indivisible, group: s.group }, performance.now())
    if (this.#ctx.abortStacks) req.callSite = captureCallSite(this[kEnqueue])
    this.#work.begin()
    // The closures a request keeps (its resolvers, its settle hook, its abort)
    // are made by small functions of their own, not in this method's scope:
    // see promiseFor() below.
    const promise = promiseFor(req, s.target)
    const abort = aborterFor(sched, req)
    const stop = s.signal ? watchSignal(s.signal, abort) : null
    const write = s.kind === OP_WRITE ? this.#work.addWrite(promise) : null
    req.onSettle = this.#afterSettle(req, held, stop, positioned ? -1 : position, write)
    sched.enqueue(req)
    return { promise, abort }
  }

  /**
   * What settling `req` does for the handle: release its hold on allocAligned
   * memory and its signal, fix the tracked position after a short transfer of
   * a non-positioned call that started at `tracked` (-1: positioned), leave
   * the unsettled writes if it is one, and end its outstanding count.
   */
  #afterSettle(req: Request, held: number, stop: (() => void) | null, tracked: number, write: LinkedNode<Promise<unknown>> | null): () => void {
    return () => {
      releaseAligned(held)
      if (stop) stop()
      if (write) this.#work.forgetWrite(write)
      if (tracked >= 0 && movesBytes(req.kind)) {
        const got = req.contiguousBytes()
        if (got < req.length && this.#pos === tracked + req.length) {
          this.#pos = tracked + got
          if (req.kind === OP_READ && req.error === 0 && !req.aborted) this.#eof = this.#pos
        }
      }
      this.#work.end()
    }
  }

  /** Queue a checked call (the O_DIRECT checks included); zero bytes resolve at once. */
  #io(syscall: 'read' | 'write', kind: number, views: ArrayBufferView[], vectored: boolean, byteOffset: number, length: number, position: number, io: IoFields, target: ArrayBufferView | null): Promise<number> {
    this.#checkUsable(syscall)
    if (length === 0) {
      const refused = alreadyAborted(io.signal)
      return refused ? Promise.reject(refused) : Promise.resolve(shaped(kind, 0, target) as number)
    }
    if (vectored) this[kCheck](syscall, views, views.map(() => 0), views.map((v) => v.byteLength), position)
    else this[kCheck](syscall, views, [byteOffset], [length], position)
    return this[kEnqueue](syscall, { kind, views, vectored, byteOffset, length, position, signal: io.signal, priority: io.priority, deadline: io.deadline, indivisible: io.indivisible, group: null, target }).promise
  }

  /** read() and write(): resolves with their result object, for `target`. */
  #single(syscall: 'read' | 'write', kind: number, buffer: unknown, offsetOrOptions: unknown, length: unknown, position: unknown, target: ArrayBufferView): Promise<unknown> {
    const a = parseRwArgs(buffer, offsetOrOptions, length, position, kind === OP_READ)
    return this.#route(syscall, kind, a.view, a.offset, a.length, a.position, a.io, target)
  }

  /** Appends go through api/append.ts, misaligned calls with `bounce` through api/bounce.ts; the rest straight to the queue. */
  #route(syscall: 'read' | 'write', kind: number, view: ArrayBufferView, offset: number, length: number, position: number, io: IoFields, target: ArrayBufferView | null): Promise<number> {
    if (kind === OP_WRITE && this.#append) {
      if (position >= 0) throw appendPositioned(this.path)
      this.#checkUsable(syscall)
      if (this.#appender) return this.#via(kind, this.#appender.append(view, offset, length, io), target)
    }
    if (this.#bounces(io, [view], [offset], [length], position)) {
      this.#checkUsable(syscall)
      return this.#via(kind, app.bounceAt(this.#alignedIo(), kind, view, offset, length, position, io), target)
    }
    return this.#io(syscall, kind, listOf(view), false, offset, length, position, io, target) // not [view]: see listOf()
  }

  #bounces(io: IoFields, views: ArrayBufferView[], offsets: number[], lengths: number[], position: number): boolean {
    if (!this.direct || !(io.bounce ?? this.#bounce)) return false
    const pos = position >= 0 ? position : this.#pos
    return misalignment('read', this.path, this.alignment, views, offsets, lengths, pos) !== null
  }

  /** Work done by an api module on this handle's behalf: close() waits for it, a later sync() covers it. */
  #via(kind: number, p: Promise<number>, target: ArrayBufferView | null): Promise<number> {
    const tracked = this.#work.track(p)
    if (kind === OP_WRITE) this.#work.write(tracked)
    return target === null ? tracked : tracked.then((n) => shaped(kind, n, target) as number)
  }

  /** A positioned, aligned request with no checks left to do (api/append.ts, api/bounce.ts). */
  #raw(kind: number, views: ArrayBufferView[], length: number, position: number, io: IoFields): Promise<number> {
    this.#ctx.checkOpen()
    const syscall = kind === OP_READ ? 'read' : kind === OP_WRITE ? 'write' : kind === OP_FSYNC ? 'fsync' : 'fdatasync'
    return this[kEnqueue](syscall, { kind, views, vectored: false, byteOffset: 0, length, position, signal: io.signal, priority: io.priority, deadline: io.deadline, indivisible: false, group: null, target: null }).promise
  }

  #alignedIo(): AlignedIo {
    return (this.#aio ??= {
      block: app.blockOf(this),
      alloc: (n) => app.allocFor(this, n),
      readAt: (buf, n, pos, io) => this.#raw(OP_READ, [buf], n, pos, io),
      writeAt: (buf, n, pos, io) => this.#raw(OP_WRITE, [buf], n, pos, io),
      size: () => this.#work.track(fstatDev(this.fd)).then((st) => st.size),
      truncate: (n) => this.#ftruncate(n),
      aligned: (view, off) => !this.direct || addressOf(view, off) % this.alignment.memory === 0,
      bounced: (n) => this.#ctx.bounced(n),
      datasync: this.#dsync ? () => this.#raw(OP_FDATASYNC, [], 0, 0, checkIoOptions(undefined)) : null,
      pos: () => this.#pos,
      setPos: (n) => (this.#pos = n),
    })
  }

  /** Read into `buffer`. Resolves with the bytes read (fewer at end of file) and the same buffer. */
  read<T extends ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<ReadResult<T>>
  read<T extends ArrayBufferView>(buffer: T, options: ReadOptions<T>): Promise<ReadResult<T>>
  read<T extends ArrayBufferView>(options: ReadOptions<T> & { buffer: T }): Promise<ReadResult<T>>
  /** Without a buffer: into a fresh one from alloc(), `length` bytes (default 16 KiB, rounded up to the block), as fs.promises does. */
  read(options?: Omit<ReadOptions, 'buffer' | 'offset'>): Promise<ReadResult<Buffer>>
  // read() and write() are not async functions: the request's own promise
  // resolves with their result (Submission.target), one promise and one
  // microtask hop fewer per call. A throw before it exists becomes a
  // rejection, as in an async function.
  read<T extends ArrayBufferView>(buffer?: unknown, offsetOrOptions?: unknown, length?: unknown, position?: unknown): Promise<ReadResult<T>> {
    try {
      buffer = withReadBuffer(buffer, (n) => app.allocForHandle(this, n))
      const target = (isView(buffer) ? buffer : (buffer as { buffer?: unknown } | null)?.buffer) as T
      return this.#single('read', OP_READ, buffer, offsetOrOptions, length, position, target) as Promise<ReadResult<T>>
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** Write from `buffer`. Resolves with the bytes written and the same buffer. */
  write<T extends ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<WriteResult<T>>
  write<T extends ArrayBufferView>(buffer: T, options: WriteOptions): Promise<WriteResult<T>>
  write<T extends ArrayBufferView>(buffer: unknown, offsetOrOptions?: unknown, length?: unknown, position?: unknown): Promise<WriteResult<T>> {
    try {
      const target = (isView(buffer) ? buffer : (buffer as { buffer?: unknown } | null)?.buffer) as T
      return this.#single('write', OP_WRITE, buffer, offsetOrOptions, length, position, target) as Promise<WriteResult<T>>
    } catch (e) {
      return Promise.reject(e)
    }
  }

  #vector(syscall: 'read' | 'write', kind: number, buffers: unknown, position: unknown, options: unknown): Promise<number> {
    const a = parseVectorArgs(buffers, position, options, kind === OP_READ)
    if (this.#appender && kind === OP_WRITE) return this.#route(syscall, kind, Buffer.concat(a.views.map((v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength))), 0, a.total, a.position, a.io, null)
    if (this.#append && kind === OP_WRITE && a.position >= 0) throw appendPositioned(this.path)
    if (this.#bounces(a.io, a.views, a.views.map(() => 0), a.views.map((v) => v.byteLength), a.position)) return app.bounceVector(kind, a.views, a.total, (v) => this.#route(syscall, kind, v, 0, a.total, a.position, a.io, null))
    return this.#io(syscall, kind, a.views, true, 0, a.total, a.position, a.io, null)
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

  async #sync(syscall: 'fsync' | 'fdatasync', kind: number, options: unknown): Promise<void> {
    const io = checkIoOptions(options as IoOptions | undefined)
    this.#checkUsable(syscall)
    // Waits for the writes issued before it (see Outstanding.afterWrites).
    return this.#work.afterWrites(io.signal, () => this.#raw(kind, [], 0, 0, io).then(() => undefined))
  }

  /** fsync(2) through the ring. */
  sync(options?: IoOptions): Promise<void> {
    return this.#sync('fsync', OP_FSYNC, options)
  }

  /** fdatasync(2) through the ring. */
  datasync(options?: IoOptions): Promise<void> {
    return this.#sync('fdatasync', OP_FDATASYNC, options)
  }

  /** fstat(2); `{ bigint: true }` resolves with `fs.BigIntStats`. */
  stat(options?: { bigint?: false }): Promise<fs.Stats>
  stat(options: { bigint: true }): Promise<fs.BigIntStats>
  stat(options?: { bigint?: boolean }): Promise<fs.Stats | fs.BigIntStats>
  async stat(options?: { bigint?: boolean }): Promise<fs.Stats | fs.BigIntStats> {
    const bigint = checkStatOptions(options)
    this.#checkUsable('fstat')
    return this.#work.track<fs.Stats | fs.BigIntStats>(bigint ? fstatBigint(this.fd) : fstatDev(this.fd))
  }

  /** ftruncate(2). Default length 0. */
  async truncate(len = 0): Promise<void> {
    checkFileLength(len)
    // Any length is legal, also one that is not a multiple of the O_DIRECT
    // alignment: O_DIRECT reads of the tail are then short, as at any EOF.
    this.#checkUsable('ftruncate')
    return this.#ftruncate(len)
  }

  #ftruncate(len: number): Promise<void> {
    return this.#work.track(new Promise<void>((resolve, reject) => fs.ftruncate(this.fd, len, (err) => (err ? reject(err) : resolve()))))
  }

  /** @internal see kTrack in internals.ts */
  [kTrack]<T>(syscall: string, fn: () => Promise<T>): Promise<T> {
    this.#checkUsable(syscall)
    return this.#work.track(fn())
  }

  // The application API (lib/api/*), as methods. See docs/api.md.
  /** The whole file, exactly its bytes. */
  readFile(options?: app.ReadFileOptions): Promise<Buffer> { return app.readFileFromHandle(this, options) }
  /** Replace the content with `data` (any length), truncated to its true length. */
  writeFile(data: string | ArrayBufferView, options?: app.WriteFileOptions): Promise<void> { return app.writeFileToHandle(this, data, options) }
  /** Exactly `[position, position + length)`, clipped at end of file, for any position and length. */
  readAt(position: number, length: number, options?: app.ReadAtOptions): Promise<Buffer> { return app.readAt(this, position, length, options) }
  /** A `stream.Readable` of `[start, end]` with `readAhead` reads in flight. */
  createReadStream(options?: app.ReadStreamOptions): app.DirectReadStream { return app.createReadStreamFromHandle(this, options) }
  /** A `stream.Writable` from `start`, coalescing into aligned writes. */
  createWriteStream(options?: app.WriteStreamOptions): app.DirectWriteStream { return app.createWriteStreamToHandle(this, options) }
  /** A web `ReadableStream` of the file. */
  readableWebStream(options?: app.ReadStreamOptions): ReadableStream<Uint8Array> { return app.readableWebStreamFromHandle(this, options) }
  /** fallocate(2): reserve `[offset, offset + length)`. */
  allocate(offset: number, length: number, options?: app.AllocateOptions): Promise<void> { return app.allocate(this, offset, length, options) }
  /** fallocate(2) PUNCH_HOLE: free `[offset, offset + length)`; it reads as zeros. */
  punchHole(offset: number, length: number, options?: app.PunchHoleOptions): Promise<void> { return app.punchHole(this, offset, length, options) }
  /** flock(2): resolves true when held, false if busy (unless `wait`). */
  lock(options?: app.LockOptions): Promise<boolean> { return app.lock(this, options) }
  /** flock(2) LOCK_UN. */
  unlock(): Promise<void> { return app.unlock(this) }
  /** A zero-filled Buffer aligned for this handle, `size` rounded up to its block. */
  alloc(size: number): Buffer { return app.allocForHandle(this, size) }
  /** `n` rounded up to this handle's block (`alignment.offset`; 1 without O_DIRECT). */
  alignUp(n: number): number { return app.alignUp(n, app.blockOf(this)) }
  /** `n` rounded down to this handle's block. */
  alignDown(n: number): number { return app.alignDown(n, app.blockOf(this)) }

  /** Wait for this file's outstanding requests, then close the descriptor. Later calls reject with EBADF. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closed = true
    leakedFds.unregister(this)
    const closeFd = (): Promise<void> => new Promise((resolve, reject) => fs.close(this.fd, (err) => (err ? reject(errnoError(err.errno ?? EIO, 'close', this.path)) : resolve())))
    return (this.#closing = this.#work.idle().then(closeFd))
  }

  /** `await using file = await open(...)` closes the file at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
