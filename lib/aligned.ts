// Aligned memory for O_DIRECT and address arithmetic on views.
import { markAsUntransferable } from 'node:worker_threads'
import { constants as bufferConstants } from 'node:buffer'
import { binding } from './binding'
import { invalidArgType, outOfRange } from './errors'

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

/**
 * Allocate a zero-filled Buffer whose memory starts on an `alignment`-byte
 * boundary, as O_DIRECT requires. The memory cannot be transferred to
 * another thread (it is marked untransferable), so it cannot vanish while the
 * kernel uses it.
 *
 * Node's own allocators give no such guarantee: `Buffer.allocUnsafeSlow`
 * memory was measured 16 bytes past a 512-byte boundary, and a 4 KiB O_DIRECT
 * read into it fails with EINVAL. The default, 4096, covers the 512- and
 * 4096-byte requirements of common devices; `handle.alignment.memory` gives the
 * exact requirement of an open file.
 *
 * @param size - bytes, an integer >= 0.
 * @param alignment - a power of two between 1 and 65536. Default 4096.
 * @throws `ERR_INVALID_ARG_TYPE` or `ERR_OUT_OF_RANGE` for a bad size or alignment.
 */
export function allocAligned(size: number, alignment = 4096): Buffer {
  if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size)
  if (!Number.isInteger(size) || size < 0 || size > bufferConstants.MAX_LENGTH - 65536) {
    throw outOfRange('size', `an integer >= 0 and <= ${bufferConstants.MAX_LENGTH - 65536}`, size)
  }
  if (typeof alignment !== 'number') throw invalidArgType('alignment', 'of type number', alignment)
  if (!isPowerOfTwo(alignment) || alignment > 65536) {
    throw outOfRange('alignment', 'a power of two between 1 and 65536', alignment)
  }
  const ab = new ArrayBuffer(size + alignment)
  markAsUntransferable(ab)
  const base = baseAddress(new Uint8Array(ab, 0, 0))
  const skip = (alignment - (base % alignment)) % alignment
  alignedStarts.set(ab, { start: skip, alignment })
  return Buffer.from(ab, skip, size)
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
