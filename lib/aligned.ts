// Aligned memory for O_DIRECT and address arithmetic on views.
import { markAsUntransferable } from 'node:worker_threads'
import { constants as bufferConstants } from 'node:buffer'
import { binding } from './binding'
import { invalidArgType, memoryAllocationFailed, outOfRange } from './errors'

const baseCache = new WeakMap<ArrayBufferLike, number>()
/** ArrayBuffers made by allocAligned(): the byteOffset where the aligned memory starts, and its alignment. */
const alignedStarts = new WeakMap<ArrayBufferLike, { start: number; alignment: number }>()

/** Where allocAligned() put the aligned start of this ArrayBuffer (undefined if it did not make it). */
export function alignedStartOf(ab: ArrayBufferLike): { start: number; alignment: number } | undefined {
  return alignedStarts.get(ab)
}

/** Base address of an ArrayBuffer's memory (stable for non-resizable buffers). */
function baseAddress(view: ArrayBufferView): number {
  const buf = view.buffer
  let base = baseCache.get(buf)
  if (base === undefined) {
    base = binding.addressOf(view) - view.byteOffset
    baseCache.set(buf, base)
  }
  return base
}

/** Memory address of the first byte of `view` (plus `offset`). */
export function addressOf(view: ArrayBufferView, offset = 0): number {
  return baseAddress(view) + view.byteOffset + offset
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
}

/** Options for {@link allocAligned}. */
export interface AllocAlignedOptions {
  /** Byte boundary the memory starts on: a power of two between 1 and 65536. Default 4096. */
  alignment?: number
  /** Zero-fill the memory. Default true; `false` skips the fill (the contents are then unspecified, as with `Buffer.allocUnsafe`). */
  zero?: boolean
}

// Library-owned memory (native alignedAlloc): freed only once the GC has
// finalized it and no request holds it. Missing from an older prebuild, and
// refused by runtimes that forbid external buffers: then the fallback below.
// DIRECT_AIO_ALIGNED_MEMORY=v8 forces the fallback (tests; incident response).
const nativeAlloc = typeof binding.alignedAlloc === 'function' && process.env.DIRECT_AIO_ALIGNED_MEMORY !== 'v8' ? binding.alignedAlloc : null
const nativeHold = typeof binding.alignedHold === 'function' ? binding.alignedHold : null
let externalRefused = false
const libraryOwned = new WeakSet<ArrayBufferLike>()

/** Whether `ab` is library-owned allocAligned memory (safe whatever JS does to it; never to be marked untransferable). */
export function isLibraryOwned(ab: ArrayBufferLike): boolean {
  return libraryOwned.has(ab)
}

/** Allocation failures, as Node reports them (ERR_MEMORY_ALLOCATION_FAILED). */
function allocate(size: number, alignment: number, zero: boolean): Buffer {
  if (nativeAlloc && !externalRefused) {
    const r = nativeAlloc(size, alignment, zero)
    if (r instanceof ArrayBuffer) {
      // Not marked untransferable: it needs no mark to be safe, and on Node 24+
      // the mark (a V8 detach key) makes Node's own environment teardown abort
      // the process ("FATAL ERROR: v8::FromJust") when it detaches a live
      // external ArrayBuffer.
      libraryOwned.add(r)
      alignedStarts.set(r, { start: 0, alignment })
      return Buffer.from(r, 0, size)
    }
    if (r === -1 /* EPERM: external buffers refused here */) externalRefused = true
    else if (typeof r === 'number') throw memoryAllocationFailed(size)
    // undefined: the environment is terminating; the fallback still works.
  }
  // Fallback: over-allocate an ordinary ArrayBuffer and hand out an aligned
  // window. V8 owns this memory; see the README on transfer().
  let ab: ArrayBuffer
  try {
    ab = zero ? new ArrayBuffer(size + alignment) : (Buffer.allocUnsafeSlow(size + alignment).buffer as ArrayBuffer)
  } catch (e) {
    if (e instanceof RangeError) throw memoryAllocationFailed(size)
    throw e
  }
  markAsUntransferable(ab)
  const base = baseAddress(new Uint8Array(ab, 0, 0))
  const skip = (alignment - (base % alignment)) % alignment
  alignedStarts.set(ab, { start: skip, alignment })
  return Buffer.from(ab, skip, size)
}

/**
 * Allocate a Buffer whose memory starts on an `alignment`-byte boundary, as
 * O_DIRECT requires; zero-filled unless `{ zero: false }`.
 *
 * The memory belongs to direct-aio, not to V8: it is freed only when the
 * Buffer is garbage-collected (or its ArrayBuffer detached and that
 * collected) AND no request still uses it, so the kernel never writes into
 * freed memory, whatever JavaScript does to the Buffer (`transfer()`
 * detaches it; the memory moves with it and stays valid). Node refuses to
 * transfer such external memory through `postMessage` (Node 20 copies, 22+
 * throws `DataCloneError`).
 *
 * Node's own allocators give no alignment guarantee: `Buffer.allocUnsafeSlow`
 * memory was measured 16 bytes past a 512-byte boundary, and a 4 KiB O_DIRECT
 * read into it fails with EINVAL. The default, 4096, covers the 512- and
 * 4096-byte requirements of common devices; `handle.alignment.memory` gives the
 * exact requirement of an open file.
 *
 * @param size - bytes, an integer >= 0 and at most `buffer.constants.MAX_LENGTH - alignment`.
 * @param options - `{ alignment, zero }`, or the alignment as a number.
 * @throws `ERR_INVALID_ARG_TYPE` or `ERR_OUT_OF_RANGE` for a bad size or alignment;
 *   `ERR_MEMORY_ALLOCATION_FAILED` when the memory cannot be had.
 */
export function allocAligned(size: number, options?: number | AllocAlignedOptions): Buffer {
  let alignment: unknown = 4096
  let zero: unknown = true
  if (typeof options === 'number') alignment = options
  else if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type number or object', options)
    if (options.alignment !== undefined) alignment = options.alignment
    if (options.zero !== undefined) zero = options.zero
  }
  if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size)
  if (typeof alignment !== 'number') throw invalidArgType('alignment', 'of type number', alignment)
  if (!isPowerOfTwo(alignment) || alignment > 65536) {
    throw outOfRange('alignment', 'a power of two between 1 and 65536', alignment)
  }
  if (typeof zero !== 'boolean') throw invalidArgType('options.zero', 'of type boolean', zero)
  const max = bufferConstants.MAX_LENGTH - alignment
  if (!Number.isInteger(size) || size < 0 || size > max) {
    throw outOfRange('size', `an integer >= 0 and <= ${max}`, size)
  }
  return allocate(size, alignment, zero)
}

/**
 * Keep the allocAligned memory behind `views` allocated until
 * {@link releaseAligned} is called with the result, even if the GC finalizes
 * its ArrayBuffer meanwhile. Called when a request for a backend that does
 * not hold the memory itself (the thread pool) is created; released when it
 * settles (after the kernel is done with its buffers). 0 = nothing held.
 */
export function holdAligned(views: ArrayBufferView[]): number {
  return nativeHold ? nativeHold(views) : 0
}

/** Undo {@link holdAligned}. */
export function releaseAligned(token: number): void {
  if (token !== 0) binding.alignedRelease!(token)
}

function checkAlignment(alignment: unknown): number {
  if (typeof alignment !== 'number') throw invalidArgType('alignment', 'of type number', alignment)
  if (!isPowerOfTwo(alignment) || alignment > 2 ** 30) throw outOfRange('alignment', 'a power of two between 1 and 2^30', alignment)
  return alignment
}

function checkCount(name: string, n: unknown): number {
  if (typeof n !== 'number') throw invalidArgType(name, 'of type number', n)
  if (!Number.isSafeInteger(n) || n < 0) throw outOfRange(name, `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, n)
  return n
}

/**
 * True if the view's memory (its first byte, `byteOffset` included) starts on
 * an `alignment` boundary. Default alignment 4096.
 */
export function isAligned(view: ArrayBufferView, alignment = 4096): boolean {
  if (!ArrayBuffer.isView(view)) throw invalidArgType('view', 'an instance of Buffer, TypedArray, or DataView', view)
  const a = checkAlignment(alignment)
  return addressOf(view) % a === 0
}

/** Round `n` up to a multiple of `alignment` (a power of two, default 4096), e.g. a length for O_DIRECT. */
export function alignUp(n: number, alignment = 4096): number {
  const a = checkAlignment(alignment)
  const v = Math.ceil(checkCount('n', n) / a) * a
  if (!Number.isSafeInteger(v)) throw outOfRange('n', `at most ${Number.MAX_SAFE_INTEGER - a + 1}`, n)
  return v
}

/** Round `n` down to a multiple of `alignment` (a power of two, default 4096), e.g. a position for O_DIRECT. */
export function alignDown(n: number, alignment = 4096): number {
  const a = checkAlignment(alignment)
  return Math.floor(checkCount('n', n) / a) * a
}
