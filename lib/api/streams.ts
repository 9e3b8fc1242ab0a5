// Node streams over direct I/O. The read stream keeps `readAhead` aligned
// reads in flight and hands each chunk out as a fresh buffer the consumer
// owns; the write stream coalesces writes into aligned blocks, keeps
// `writeBehind` of them in flight, and on end writes the padded tail and
// truncates to the true length. Destroying either stream, or aborting its
// signal, aborts what is still queued or in flight; 'close' is emitted only
// once every request has settled, so the context's stats are final by then.
import { Readable, Writable } from 'node:stream'
import type { ReadableStream } from 'node:stream/web'
import { AbortError } from '../errors'
import { onAbort } from '../sched/cancel'
import type { IoContext } from './context'
import type { DirectFileHandle } from './file'
import { invalidArgType, invalidArgValue, outOfRange } from '../errors'
import { allocFor, blockOf, checkBool, checkHandle, checkInt, checkOptions, checkSignal, MAX_POSITION, roundDown, roundUp } from './io-util'
import { readAt } from './read-at'
import { BufferPool, kOnRelease } from './buffer-pool'

/** Options of {@link createReadStreamFromHandle}. */
export interface ReadStreamOptions {
  /** First byte to read. Default 0. Any value: the stream reads aligned and trims. */
  start?: number
  /** Last byte to read, inclusive (as in `fs.createReadStream`). Default: to end of file. */
  end?: number
  /** Bytes per read, rounded up to the handle's block; also the stream's highWaterMark. Default 64 KiB. */
  highWaterMark?: number
  /** Reads kept in flight ahead of the consumer. Default 4. */
  readAhead?: number
  /** Aborting it aborts the queued and in-flight reads; the stream errors with the AbortError. */
  signal?: AbortSignal
  /**
   * Read into buffers of this pool instead of fresh ones: each chunk is a view
   * of a pool buffer, which the consumer must `pool.release(chunk)` when done.
   * Reads are `pool.size` bytes (a multiple of the handle's block); the stream
   * waits for a release when the pool is empty. Default: fresh buffers.
   */
  pool?: BufferPool
}

/** Options of the path form of {@link createReadStream}. */
export interface PathReadStreamOptions extends ReadStreamOptions {
  /** Default: the thread's default context. */
  context?: IoContext
  /** Open with O_DIRECT. Default true. */
  direct?: boolean
}

/** Options of {@link createWriteStreamToHandle}. */
export interface WriteStreamOptions {
  /** File position of the first byte. Default 0. Unaligned: the bytes before it in its block are read and kept. */
  start?: number
  /** Bytes per write, rounded up to the handle's block; also the stream's highWaterMark. Default 64 KiB. */
  highWaterMark?: number
  /** Writes kept in flight. Default 4. */
  writeBehind?: number
  /** datasync after the last write, before 'finish'. Default false. */
  sync?: boolean
  /** Aborting it aborts the queued and in-flight writes; the stream errors with the AbortError. */
  signal?: AbortSignal
}

/** Options of the path form of {@link createWriteStream}. */
export interface PathWriteStreamOptions extends WriteStreamOptions {
  /** open() flags. Default 'w'. */
  flags?: string | number
  /** Mode of a created file. Default 0o666. */
  mode?: number
  /** Default: the thread's default context. */
  context?: IoContext
  /** Open with O_DIRECT. Default true. */
  direct?: boolean
}

const DEFAULT_CHUNK = 64 * 1024
const MAX_CHUNK = 64 * 1024 * 1024
const kNoAbort = Symbol('no abort')

export type Opener = () => Promise<DirectFileHandle>

export interface Source {
  fh: DirectFileHandle | null
  opener: Opener | null
  path: string
}

export function sourceOf(file: unknown, opener: Opener | null, pathName: string): Source {
  if (opener) return { fh: null, opener, path: pathName }
  return { fh: checkHandle('fh', file), opener: null, path: (file as DirectFileHandle).path }
}

interface Slot {
  pos: number
  len: number
  buf: Buffer
  done: Promise<void>
  settled: boolean
  n: number
  err: unknown
}

/** A `stream.Readable` over direct reads; see {@link createReadStreamFromHandle}. */
export class DirectReadStream extends Readable {
  /** The path of the file. */
  readonly path: string
  /** Bytes pushed to the consumer so far. */
  bytesRead = 0
  #fh: DirectFileHandle | null
  #opener: Opener | null
  #start: number
  #end: number
  #chunkOpt: number
  #chunk = 0
  #readAhead: number
  #next = 0
  #slots: Slot[] = []
  #ended = false
  #wanting = false
  #ac = new AbortController()
  #userAbort: unknown = kNoAbort
  #unwatch: () => void
  #pool: BufferPool | null
  #poolWait = false

  /** @internal use createReadStream() */
  constructor(src: Source, o: ReadStreamOptions) {
    const chunk = checkInt('options.highWaterMark', o.highWaterMark, 1, MAX_CHUNK, DEFAULT_CHUNK)
    super({ highWaterMark: chunk })
    this.path = src.path
    this.#fh = src.fh
    this.#opener = src.opener
    this.#chunkOpt = chunk
    this.#start = checkInt('options.start', o.start, 0, MAX_POSITION, 0)
    const end = o.end === undefined || o.end === Infinity ? MAX_POSITION - 1 : checkInt('options.end', o.end, 0, MAX_POSITION - 1)
    if (this.#start > end + 1) throw outOfRange('options.start', `<= "end" + 1 (here ${end + 1})`, this.#start)
    this.#end = end + 1
    this.#readAhead = checkInt('options.readAhead', o.readAhead, 1, 1024, 4)
    if (o.pool !== undefined && !(o.pool instanceof BufferPool)) throw invalidArgType('options.pool', 'an instance of BufferPool', o.pool)
    this.#pool = o.pool ?? null
    const signal = checkSignal(o.signal)
    this.#unwatch = onAbort(signal, (reason) => {
      if (this.destroyed) return
      this.#userAbort = reason
      this.#ac.abort(reason)
      this.destroy()
    })
    if (this.#fh) this.#setup(this.#fh)
  }

  /** A buffer for the next read, or null if the pool is empty (then a release resumes the pump). */
  #buffer(len: number): Buffer | null {
    if (!this.#pool) return allocFor(this.#fh!, len)
    if (this.#pool.available === 0) {
      if (!this.#poolWait) {
        this.#poolWait = true
        this.#pool[kOnRelease](() => {
          this.#poolWait = false
          this.#pump()
        })
      }
      return null
    }
    return this.#pool.acquire()
  }

  #setup(fh: DirectFileHandle): void {
    const block = blockOf(fh)
    if (this.#pool && this.#pool.size % block !== 0) {
      throw invalidArgValue('options.pool', this.#pool, `must hold buffers of a multiple of ${block} bytes (this file's O_DIRECT block); its size is ${this.#pool.size}`)
    }
    if (this.#pool && this.#pool.alignment < (fh.direct ? fh.alignment.memory : 1)) {
      throw invalidArgValue('options.pool', this.#pool, `must align its buffers to at least ${fh.alignment.memory} bytes`)
    }
    this.#chunk = this.#pool ? this.#pool.size : roundUp(this.#chunkOpt, block)
    this.#next = roundDown(this.#start, block)
  }

  override _construct(cb: (err?: Error | null) => void): void {
    if (!this.#opener) return cb()
    this.#opener().then(
      (fh) => {
        this.#fh = fh
        try {
          this.#setup(fh)
        } catch (e) {
          return cb(e as Error)
        }
        cb()
      },
      (err) => cb(err),
    )
  }

  override _read(): void {
    this.#wanting = true
    this.#pump()
  }

  #pump(): void {
    if (this.destroyed || this.#ended) return
    while (this.#wanting && this.#slots.length > 0 && this.#slots[0].settled) {
      const s = this.#slots.shift()!
      if (s.err) {
        this.#pool?.release(s.buf)
        this.destroy(s.err as Error)
        return
      }
      const from = Math.max(s.pos, this.#start)
      const to = Math.min(s.pos + s.n, this.#end)
      if (to > from) {
        this.bytesRead += to - from
        this.#wanting = this.push(s.buf.subarray(from - s.pos, to - s.pos))
      } else {
        this.#pool?.release(s.buf)
      }
      if (s.n < s.len || s.pos + s.n >= this.#end) return this.#finish()
    }
    const end = roundUp(this.#end, blockOf(this.#fh!))
    while (this.#slots.length < this.#readAhead && this.#next < this.#end) {
      const len = Math.min(this.#chunk, end - this.#next)
      const buf = this.#buffer(len)
      if (!buf) break
      this.#issue(this.#next, len, buf)
      this.#next += len
    }
    if (this.#slots.length === 0 && this.#next >= this.#end) this.#finish()
  }

  #finish(): void {
    this.#ended = true
    this.push(null)
  }

  #issue(pos: number, len: number, buf: Buffer): void {
    const s: Slot = { pos, len, buf, done: null as never, settled: false, n: 0, err: null }
    const opts = { offset: 0, length: len, position: pos, signal: this.#ac.signal }
    const read = this.#pool ? this.#pool.read(this.#fh!, buf, opts) : this.#fh!.read(buf, opts)
    s.done = read.then(
      ({ bytesRead }) => {
        s.n = bytesRead
        s.settled = true
        this.#pump()
      },
      (err) => {
        s.err = err
        s.settled = true
        this.#pump()
      },
    )
    this.#slots.push(s)
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#unwatch()
    const slots = this.#slots
    this.#slots = []
    this.#ac.abort(this.#userAbort === kNoAbort ? undefined : this.#userAbort)
    Promise.all(slots.map((s) => s.done)).then(async () => {
      // Undelivered pool buffers go back to the pool; delivered chunks are the consumer's.
      if (this.#pool) for (const s of slots) this.#pool.release(s.buf)
      let e: Error | null = err
      if (this.#userAbort !== kNoAbort) {
        const hit = slots.find((s) => s.err instanceof AbortError)
        e = (hit?.err as AbortError) ?? new AbortError('queued', 0, [], this.#userAbort)
      }
      if (this.#opener && this.#fh) {
        try {
          await this.#fh.close()
        } catch (ce) {
          e ??= ce as Error
        }
      }
      cb(e)
    })
  }
}

/** A `stream.Writable` over direct writes; see {@link createWriteStreamToHandle}. */
export class DirectWriteStream extends Writable {
  /** The path of the file. */
  readonly path: string
  /** Bytes of data whose writes have completed. */
  bytesWritten = 0
  #fh: DirectFileHandle | null
  #opener: Opener | null
  #start: number
  #chunkOpt: number
  #chunk = 0
  #block = 1
  #writeBehind: number
  #sync: boolean
  #stage: Buffer | null = null
  #fill = 0
  #stagePos = 0
  /** Bytes at the start of the first stage that were already in the file (unaligned start). */
  #prefix = 0
  #data = 0
  #free: Buffer[] = []
  #inflight = new Set<Promise<void>>()
  #wake: Array<() => void> = []
  #error: unknown = null
  #abortErr: AbortError | null = null
  #ac = new AbortController()
  #userAbort: unknown = kNoAbort
  #unwatch: () => void

  /** @internal use createWriteStream() */
  constructor(src: Source, o: WriteStreamOptions) {
    const chunk = checkInt('options.highWaterMark', o.highWaterMark, 1, MAX_CHUNK, DEFAULT_CHUNK)
    super({ highWaterMark: chunk, decodeStrings: true })
    this.path = src.path
    this.#fh = src.fh
    this.#opener = src.opener
    this.#chunkOpt = chunk
    this.#start = checkInt('options.start', o.start, 0, MAX_POSITION, 0)
    this.#writeBehind = checkInt('options.writeBehind', o.writeBehind, 1, 1024, 4)
    this.#sync = checkBool('options.sync', o.sync, false)
    const signal = checkSignal(o.signal)
    this.#unwatch = onAbort(signal, (reason) => {
      if (this.destroyed) return
      this.#userAbort = reason
      this.#ac.abort(reason)
      this.destroy()
    })
  }

  override _construct(cb: (err?: Error | null) => void): void {
    const ready = async () => {
      if (this.#opener) this.#fh = await this.#opener()
      const fh = this.#fh!
      this.#block = blockOf(fh)
      this.#chunk = roundUp(this.#chunkOpt, this.#block)
      this.#stagePos = roundDown(this.#start, this.#block)
      this.#stage = this.#take()
      this.#prefix = this.#start - this.#stagePos
      if (this.#prefix > 0) {
        // The bytes before `start` in its block are part of the file: keep them.
        const head = await readAt(fh, this.#stagePos, this.#prefix, { signal: this.#ac.signal })
        this.#stage.set(head)
      }
      this.#fill = this.#prefix
    }
    ready().then(() => cb(), (err) => cb(err))
  }

  #take(): Buffer {
    const b = this.#free.pop()
    if (b) return b.fill(0)
    return allocFor(this.#fh!, this.#chunk)
  }

  #room(): Promise<void> {
    if (this.#error) return Promise.reject(this.#error)
    // Destroyed: issue nothing more (a pending _write's callback no longer matters).
    if (this.destroyed) return Promise.reject(this.#abortErr ?? new Error('write stream destroyed'))
    if (this.#inflight.size < this.#writeBehind) return Promise.resolve()
    return new Promise<void>((resolve) => this.#wake.push(resolve)).then(() => this.#room())
  }

  #flush(length: number, dataBytes: number): Promise<void> {
    const buf = this.#stage!
    const pos = this.#stagePos
    this.#stage = null
    const p = this.#fh!.write(buf, { offset: 0, length, position: pos, signal: this.#ac.signal }).then(
      () => {
        this.bytesWritten += dataBytes
        this.#free.push(buf)
      },
      (err) => {
        if (err instanceof AbortError) this.#abortErr ??= err
        this.#error ??= err
      },
    )
    const tracked = p.finally(() => {
      this.#inflight.delete(tracked)
      const w = this.#wake
      this.#wake = []
      for (const f of w) f()
    })
    this.#inflight.add(tracked)
    this.#stagePos += length
    return tracked
  }

  async #accept(chunk: Buffer): Promise<void> {
    let off = 0
    while (off < chunk.length) {
      if (this.#stage === null) {
        await this.#room()
        this.#stage = this.#take()
        this.#fill = 0
      }
      const n = Math.min(chunk.length - off, this.#chunk - this.#fill)
      this.#stage.set(chunk.subarray(off, off + n), this.#fill)
      this.#fill += n
      this.#data += n
      off += n
      if (this.#fill === this.#chunk) {
        await this.#room()
        void this.#flush(this.#chunk, this.#chunk - this.#prefix)
        this.#prefix = 0
        this.#fill = 0
      }
    }
    await this.#room()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#accept(chunk).then(() => cb(), (err) => cb(err))
  }

  override _final(cb: (err?: Error | null) => void): void {
    const finish = async () => {
      await Promise.all(this.#inflight)
      if (this.#error) throw this.#error
      const fh = this.#fh!
      if (this.#data > 0 && this.#fill > 0 && this.#stage) {
        const trueEnd = this.#stagePos + this.#fill
        const padded = roundUp(this.#fill, this.#block)
        let size = 0
        if (padded > this.#fill) {
          size = (await fh.stat()).size
          if (size > trueEnd) {
            // Keep the file's bytes after ours in the tail block.
            const after = await readAt(fh, trueEnd, Math.min(size, this.#stagePos + padded) - trueEnd, { signal: this.#ac.signal })
            this.#stage.set(after, this.#fill)
          }
        }
        const dataBytes = this.#fill - this.#prefix
        await this.#flush(padded, dataBytes)
        if (this.#error) throw this.#error
        if (padded > this.#fill && size < this.#stagePos) await fh.truncate(Math.max(size, trueEnd))
      }
      if (this.#sync) await fh.datasync({ signal: this.#ac.signal })
    }
    finish().then(() => cb(), (err) => cb(err))
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#unwatch()
    this.#ac.abort(this.#userAbort === kNoAbort ? undefined : this.#userAbort)
    const w = this.#wake
    this.#wake = []
    for (const f of w) f()
    Promise.all(this.#inflight).then(async () => {
      let e: Error | null = err
      if (this.#userAbort !== kNoAbort) e = this.#abortErr ?? new AbortError('queued', 0, [], this.#userAbort)
      if (this.#opener && this.#fh) {
        try {
          await this.#fh.close()
        } catch (ce) {
          e ??= ce as Error
        }
      }
      cb(e)
    })
  }
}

/**
 * A `stream.Readable` of the file's bytes `[start, end]` (end inclusive),
 * read with O_DIRECT: `readAhead` aligned reads of `highWaterMark` bytes are
 * kept in flight, and each chunk is a fresh buffer (a view of the aligned
 * read, trimmed to the range) that the consumer owns. `destroy()` or an abort
 * of `signal` aborts the reads still queued or in flight (they show in the
 * context's stats as cancelled, their bytes as saved); 'close' follows once
 * they have settled. The handle stays open.
 */
export function createReadStreamFromHandle(fh: DirectFileHandle, options?: ReadStreamOptions): DirectReadStream {
  const o = checkOptions<ReadStreamOptions>(options)
  return new DirectReadStream(sourceOf(fh, null, ''), o)
}

/**
 * A `stream.Writable` writing from `start` with O_DIRECT: data is coalesced
 * into aligned blocks of `highWaterMark` bytes, `writeBehind` writes are kept
 * in flight (the stream's back-pressure waits for one to finish), and on
 * `end()` the tail is written padded to the block and the file truncated to
 * its true length (bytes already in the file after the written range are
 * kept), then datasynced if `sync`. An abort of `signal`, or `destroy()`,
 * aborts the writes in flight and drops the buffered ones; the abort makes
 * the stream error with the AbortError. The handle stays open.
 */
export function createWriteStreamToHandle(fh: DirectFileHandle, options?: WriteStreamOptions): DirectWriteStream {
  const o = checkOptions<WriteStreamOptions>(options)
  return new DirectWriteStream(sourceOf(fh, null, ''), o)
}

/** A web `ReadableStream` over {@link createReadStreamFromHandle}; cancelling it aborts the reads. */
export function readableWebStreamFromHandle(fh: DirectFileHandle, options?: ReadStreamOptions): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStreamFromHandle(fh, options)) as ReadableStream<Uint8Array>
}

