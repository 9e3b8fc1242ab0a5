// A Node stream.Readable over direct I/O: it keeps `readAhead` aligned reads
// in flight and hands each chunk out as a fresh buffer the consumer owns (or
// a view of a pool buffer). Destroying the stream, or aborting its signal,
// aborts what is still queued or in flight; 'close' is emitted only once
// every request has settled, so the context's stats are final by then.
import { Readable } from 'node:stream'
import type { ReadableStream } from 'node:stream/web'
import { AbortError, invalidArgType, invalidArgValue, outOfRange } from '../errors'
import type { IoContext } from './context'
import type { DirectFileHandle } from './file'
import { allocFor, blockOf, checkInt, checkOptions, MAX_POSITION, roundDown, roundUp } from './io-util'
import { BufferPool, kOnRelease } from './buffer-pool'
import { DEFAULT_CHUNK, endDestroy, kNoAbort, MAX_CHUNK, Opener, Source, sourceOf, watchUserAbort } from './streams'

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
    this.#unwatch = watchUserAbort(this, o.signal, this.#ac, (reason) => (this.#userAbort = reason))
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
    Promise.all(slots.map((s) => s.done)).then(() => {
      // Undelivered pool buffers go back to the pool; delivered chunks are the consumer's.
      if (this.#pool) for (const s of slots) this.#pool.release(s.buf)
      const hit = slots.find((s) => s.err instanceof AbortError)
      return endDestroy({ fh: this.#fh, opener: this.#opener }, err, this.#userAbort, hit?.err as AbortError | undefined, cb)
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

/** A web `ReadableStream` over {@link createReadStreamFromHandle}; cancelling it aborts the reads. */
export function readableWebStreamFromHandle(fh: DirectFileHandle, options?: ReadStreamOptions): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStreamFromHandle(fh, options)) as ReadableStream<Uint8Array>
}
