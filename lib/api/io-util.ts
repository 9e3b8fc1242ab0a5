// Small helpers shared by the modules in lib/api/ that build on the public
// DirectFileHandle surface: argument checks, memory aligned for a handle,
// and waiting for a batch of requests that all own buffers.
import { constants as bufferConstants } from 'node:buffer'
import { allocAligned, isAligned } from '../aligned'
import { abortError, AbortError } from '../errors'
import type { DirectFileHandle } from './file'
import { handles } from './internals'
import { invalidArgType, outOfRange } from '../errors'

export const MAX_POSITION = Number.MAX_SAFE_INTEGER

export function checkHandle(name: string, fh: unknown): DirectFileHandle {
  if (!handles.has(fh as object)) throw invalidArgType(name, 'an instance of DirectFileHandle', fh)
  return fh as DirectFileHandle
}

export function checkOptions<T extends object>(o: unknown): Partial<T> {
  if (o === undefined || o === null) return {}
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
  return o as Partial<T>
}

export function checkSignal(v: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (v !== undefined && !(v instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', v)
  return v
}

export function checkBool(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw invalidArgType(name, 'of type boolean', v)
  return v
}

export function checkInt(name: string, v: unknown, min: number, max: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v)
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(name, `an integer >= ${min} && <= ${max}`, v)
  return v
}

/** The handle's position/length granularity (1 for a buffered handle). */
export function blockOf(fh: DirectFileHandle): number {
  return fh.direct ? fh.alignment.offset : 1
}

export function roundUp(n: number, a: number): number {
  return Math.ceil(n / a) * a
}

export function roundDown(n: number, a: number): number {
  return Math.floor(n / a) * a
}

/** A zero-filled Buffer of `size` bytes whose memory suits `fh` (allocAligned gives 4096; more is rare). */
export function allocFor(fh: DirectFileHandle, size: number): Buffer {
  const memory = fh.direct ? fh.alignment.memory : 1
  if (memory <= 4096) return allocAligned(size)
  const b = allocAligned(size + memory)
  for (let s = 0; s < memory; s += 4096) if (isAligned(b.subarray(s), memory)) return b.subarray(s, s + size)
  return b.subarray(0, size)
}

/** The AbortError of an operation refused before anything was issued. */
export function abortedBeforeIssue(signal: AbortSignal): AbortError {
  return abortError('queued', 0, [], signal.reason)
}

/**
 * Wait for every promise to settle (each may own a buffer the kernel is
 * using), then resolve with the values or reject with the first rejection in
 * order. An AbortError is preferred over the errors of sibling requests
 * aborted along with it only by position: the earliest one wins.
 */
/** Mark a promise as handled now (it is awaited later through settleAll). */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}

export async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises)
  for (const r of results) if (r.status === 'rejected') throw r.reason
  return results.map((r) => (r as PromiseFulfilledResult<T>).value)
}

/** Bytes of a string, Buffer or any ArrayBufferView, without copying views. */
export function bytesOf(data: unknown, encoding: BufferEncoding): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  throw invalidArgType('data', 'of type string or an instance of Buffer, TypedArray, or DataView', data)
}

/** fh.alloc(size): memory aligned for `fh`, `size` rounded up to its block. */
export function allocForHandle(fh: DirectFileHandle, size: unknown): Buffer {
  const n = checkInt('size', size, 0, bufferConstants.MAX_LENGTH - 65536)
  return allocFor(fh, roundUp(n, blockOf(fh)))
}

/** Request chunk size for a file: the context's, capped by max_sectors_kb, a multiple of the block. */
export function chunkSizeFor(contextChunk: number, maxSectorsBytes: number | null, block: number): number {
  let chunk = contextChunk
  if (maxSectorsBytes && maxSectorsBytes >= 4096) chunk = Math.min(chunk, maxSectorsBytes)
  const unit = Math.max(block, 4096)
  return Math.max(block, Math.floor(chunk / unit) * unit)
}
