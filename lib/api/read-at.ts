// readAt: the fs-like read for any byte range. The range is rounded out to
// the handle's O_DIRECT granularity, read once into aligned memory, and the
// exact bytes are returned as a view of that memory (no copy), as glommio's
// DmaFile::read_at does.
import { constants as bufferConstants } from 'node:buffer'
import type { DirectFileHandle } from './file'
import { outOfRange } from '../errors'
import { abortedBeforeIssue, allocFor, blockOf, checkHandle, checkInt, checkOptions, checkSignal, MAX_POSITION, roundDown, roundUp } from './io-util'

/** Options of {@link readAt}. */
export interface ReadAtOptions {
  /** Aborts the read; the rejection is the read's AbortError. */
  signal?: AbortSignal
}

/**
 * Read exactly `[position, position + length)` of the file, clipped at end of
 * file, for any position and length. Resolves with a Buffer the caller owns:
 * a view into a fresh aligned allocation that also holds the rounding
 * (`buf.byteOffset` is usually not 0). Reads past the end give a short or
 * empty Buffer, as `read` does.
 */
export async function readAt(fh: DirectFileHandle, position: number, length: number, options?: ReadAtOptions): Promise<Buffer> {
  checkHandle('fh', fh)
  const pos = checkInt('position', position, 0, MAX_POSITION)
  const len = checkInt('length', length, 0, bufferConstants.MAX_LENGTH - 65536)
  const o = checkOptions<ReadAtOptions>(options)
  const signal = checkSignal(o.signal)
  if (pos + len > MAX_POSITION) throw outOfRange('length', `an integer <= ${MAX_POSITION - pos} at position ${pos}`, len)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  if (len === 0) return Buffer.alloc(0)
  const block = blockOf(fh)
  const start = roundDown(pos, block)
  const end = roundUp(pos + len, block)
  const buf = allocFor(fh, end - start)
  const { bytesRead } = await fh.read(buf, { position: start, signal })
  const skip = pos - start
  const avail = Math.max(0, Math.min(bytesRead - skip, len))
  return buf.subarray(skip, skip + avail)
}
