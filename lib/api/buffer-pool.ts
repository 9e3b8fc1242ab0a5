// BufferPool: aligned, reusable buffers for streams and servers. The pool
// cannot see into the kernel, so it knows a buffer is busy only around the
// operations it runs itself (pool.read, pool.write, pool.track): releasing a
// buffer while one of those is still pending is refused.
import { allocAligned, isAligned } from '../aligned'
import type { DirectFileHandle, ReadOptions, ReadResult, WriteOptions, WriteResult } from '../index'
import { bufferInUse, invalidArgType, invalidArgValue, outOfRange, poolExhausted } from '../errors'
import { checkHandle, checkInt, checkOptions } from './io-util'

/** Options of {@link BufferPool}. */
export interface BufferPoolOptions {
  /** Bytes per buffer (an integer >= 1). Required. Use a multiple of the files' `alignment.offset` for whole-buffer O_DIRECT transfers. */
  size: number
  /** Most buffers the pool hands out at once; they are allocated on first use. Default 64. */
  count?: number
  /** Memory alignment of each buffer, a power of two up to 65536. Default 4096. */
  alignment?: number
}

interface Entry {
  buf: Buffer
  acquired: boolean
  busy: number
}

/**
 * A pool of aligned buffers of one size. `acquire()` hands one out (its
 * bytes are whatever the last user left; it is zero-filled only when new);
 * `release(buf)` gives it back.
 *
 * **The in-use rule.** A buffer must not be released while the kernel may
 * still read or write it. Run the I/O through the pool (`pool.read(fh, buf,
 * ...)`, `pool.write(fh, buf, ...)`, or `pool.track(buf, promise)` around any
 * other operation) and `release()` refuses, with
 * `ERR_DIRECT_AIO_BUFFER_IN_USE`, a buffer whose operation has not settled.
 * (direct-aio settles a request only once the kernel is done with its
 * buffer, aborted ones included.) I/O started directly with `fh.read(buf)`
 * is invisible to the pool: await it before releasing.
 */
/** @internal for streams in lib/api: call `fn` once, at the next release. */
export const kOnRelease = Symbol('direct-aio.pool.onRelease')

export class BufferPool {
  /** Bytes per buffer. */
  readonly size: number
  /** Most buffers out at once. */
  readonly count: number
  /** Memory alignment of every buffer. */
  readonly alignment: number
  #free: Entry[] = []
  #entries = new WeakMap<ArrayBufferLike, Entry>()
  #created = 0
  #out = 0
  #onRelease: Array<() => void> = []

  constructor(options: BufferPoolOptions) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    const o = checkOptions<BufferPoolOptions>(options)
    this.size = checkInt('options.size', o.size, 1, 2 ** 31 - 1)
    this.count = checkInt('options.count', o.count, 1, 2 ** 20, 64)
    const a = o.alignment ?? 4096
    if (typeof a !== 'number') throw invalidArgType('options.alignment', 'of type number', a)
    if (!Number.isInteger(a) || a < 1 || a > 65536 || (a & (a - 1)) !== 0) throw outOfRange('options.alignment', 'a power of two between 1 and 65536', a)
    this.alignment = a
  }

  /** Buffers that can be acquired now (free ones plus ones not yet allocated). */
  get available(): number {
    return this.count - this.#out
  }

  /** Buffers acquired and not yet released. */
  get acquired(): number {
    return this.#out
  }

  #alloc(): Buffer {
    if (this.alignment <= 4096) return allocAligned(this.size)
    const b = allocAligned(this.size + this.alignment)
    for (let s = 0; s < this.alignment; s += 4096) if (isAligned(b.subarray(s), this.alignment)) return b.subarray(s, s + this.size)
    return b.subarray(0, this.size)
  }

  /** Hand out a buffer of `size` bytes. Throws `ERR_DIRECT_AIO_POOL_EXHAUSTED` when `count` are out. */
  acquire(): Buffer {
    let e = this.#free.pop()
    if (!e) {
      if (this.#created >= this.count) throw poolExhausted(this.count)
      e = { buf: this.#alloc(), acquired: false, busy: 0 }
      this.#entries.set(e.buf.buffer, e)
      this.#created++
    }
    e.acquired = true
    this.#out++
    return e.buf
  }

  #entryOf(buf: unknown, name: string): Entry {
    if (!ArrayBuffer.isView(buf)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', buf)
    const e = this.#entries.get(buf.buffer)
    if (!e) throw invalidArgValue(name, buf, 'was not acquired from this BufferPool')
    return e
  }

  /** Give a buffer back (the acquired Buffer or any view of it). Refused while an operation the pool tracks still uses it. */
  release(buf: ArrayBufferView): void {
    const e = this.#entryOf(buf, 'buffer')
    if (!e.acquired) throw invalidArgValue('buffer', buf, 'was already released to this BufferPool')
    if (e.busy > 0) throw bufferInUse(`${e.busy} pending operation${e.busy > 1 ? 's' : ''} started through this BufferPool`)
    e.acquired = false
    this.#out--
    this.#free.push(e)
    if (this.#onRelease.length > 0) {
      const w = this.#onRelease
      this.#onRelease = []
      for (const f of w) f()
    }
  }

  /** @internal */
  [kOnRelease](fn: () => void): void {
    this.#onRelease.push(fn)
  }

  /** Mark `buf` (a pool buffer or a view of one) in use until `op` settles; returns `op`. */
  track<T>(buf: ArrayBufferView, op: Promise<T>): Promise<T> {
    const e = this.#entryOf(buf, 'buffer')
    if (!e.acquired) throw invalidArgValue('buffer', buf, 'is not acquired (it was released to this BufferPool)')
    if (!(op instanceof Promise)) throw invalidArgType('op', 'an instance of Promise', op)
    e.busy++
    return op.finally(() => {
      e.busy--
    })
  }

  /** `fh.read(buf, options)`, tracked so that `release(buf)` waits for it. */
  read<T extends ArrayBufferView>(fh: DirectFileHandle, buf: T, options?: ReadOptions<T>): Promise<ReadResult<T>> {
    checkHandle('fh', fh)
    this.#entryOf(buf, 'buffer')
    return this.track(buf, fh.read(buf, options ?? {}))
  }

  /** `fh.write(buf, options)`, tracked so that `release(buf)` waits for it. */
  write<T extends ArrayBufferView>(fh: DirectFileHandle, buf: T, options?: WriteOptions): Promise<WriteResult<T>> {
    checkHandle('fh', fh)
    this.#entryOf(buf, 'buffer')
    return this.track(buf, fh.write(buf, options ?? {}))
  }
}
