// A Node stream.Writable over direct I/O: it coalesces writes into aligned
// blocks, keeps `writeBehind` of them in flight, and on end writes the padded
// tail and truncates to the true length. Destroying the stream, or aborting
// its signal, aborts what is still queued or in flight; 'close' is emitted
// only once every request has settled, so the context's stats are final by then.
import { Writable } from 'node:stream'
import { AbortError } from '../errors'
import type { IoContext } from './context'
import type { DirectFileHandle } from './file'
import { allocFor, blockOf, checkBool, checkInt, checkOptions, MAX_POSITION, roundDown, roundUp } from './io-util'
import { readAt } from './read-at'
import { DEFAULT_CHUNK, endDestroy, kNoAbort, MAX_CHUNK, Opener, Source, sourceOf, watchUserAbort } from './streams'

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
    this.#unwatch = watchUserAbort(this, o.signal, this.#ac, (reason) => (this.#userAbort = reason))
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
    Promise.all(this.#inflight).then(() => endDestroy({ fh: this.#fh, opener: this.#opener }, err, this.#userAbort, this.#abortErr, cb))
  }
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
