// readFile/writeFile over O_DIRECT: whole files of any size. Reads round the
// length up to the handle's block and clip; writes pad the tail into aligned
// memory and truncate to the true length. The path forms open (and for
// writeFile, replace atomically) the file themselves.
import { constants as bufferConstants } from 'node:buffer'
import { isAligned } from '../aligned'
import type { IoContext } from './context'
import type { DirectFileHandle } from './file'
import { fileTooLarge, invalidArgType } from '../errors'
import { abortedBeforeIssue, allocFor, blockOf, bytesOf, checkBool, checkHandle, checkOptions, checkSignal, quiet, roundDown, roundUp, settleAll } from './io-util'

/** Options of {@link readFileFromHandle}. */
export interface ReadFileOptions {
  /** Aborts the read; the rejection is the read's AbortError. */
  signal?: AbortSignal
}

/** Options of the path form of {@link readFile}. */
export interface PathReadFileOptions extends ReadFileOptions {
  /** The context that serves the read. Default: the thread's default context. */
  context?: IoContext
  /** Open with O_DIRECT. Default true (false for filesystems without it, e.g. tmpfs). */
  direct?: boolean
}

/** Options of {@link writeFileToHandle}. */
export interface WriteFileOptions {
  /** Aborts the write. The file may then hold part of the new data (the path form leaves it untouched). */
  signal?: AbortSignal
  /** datasync before resolving, so the data and size are durable. Default false. */
  sync?: boolean
  /** Encoding of string data. Default 'utf8'. */
  encoding?: BufferEncoding
}

/** Options of the path form of {@link writeFile}. */
export interface PathWriteFileOptions extends WriteFileOptions {
  /** Mode of the new file. Default: the mode of the file it replaces, else 0o666 (minus the umask). */
  mode?: number
  /** The context that serves the writes. Default: the thread's default context. */
  context?: IoContext
  /** Open with O_DIRECT. Default true. */
  direct?: boolean
}

/** Staging buffers for data whose memory is not aligned: this many bytes each, this many in flight. */
const STAGE_BYTES = 8 * 1024 * 1024
const STAGE_DEPTH = 2

/**
 * Read the whole file: resolves with a Buffer of exactly its bytes (its size
 * at the time of the call), whatever the size. The Buffer is a view of
 * aligned memory rounded up to the handle's block; the caller owns it.
 */
export async function readFileFromHandle(fh: DirectFileHandle, options?: ReadFileOptions): Promise<Buffer> {
  checkHandle('fh', fh)
  const o = checkOptions<ReadFileOptions>(options)
  const signal = checkSignal(o.signal)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  const { size } = await fh.stat()
  const max = bufferConstants.MAX_LENGTH - 65536
  if (size > max) throw fileTooLarge(size, max)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  if (size === 0) return Buffer.alloc(0)
  const buf = allocFor(fh, roundUp(size, blockOf(fh)))
  const { bytesRead } = await fh.read(buf, { position: 0, signal })
  return buf.subarray(0, Math.min(bytesRead, size))
}

/**
 * Write `bytes` at position 0: aligned memory goes straight to the kernel,
 * the rest is copied through aligned staging buffers. The last block is
 * padded with zeros; the caller truncates.
 */
async function writeAll(fh: DirectFileHandle, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
  const block = blockOf(fh)
  const len = bytes.byteLength
  const memory = fh.direct ? fh.alignment.memory : 1
  const writes: Array<Promise<unknown>> = []
  let done = 0
  if (len >= block && isAligned(bytes, memory)) {
    done = roundDown(len, block)
    writes.push(quiet(fh.write(bytes, { offset: 0, length: done, position: 0, signal })))
  }
  // Copy the rest through staging buffers, STAGE_DEPTH in flight.
  const stageBytes = Math.max(block, roundDown(STAGE_BYTES, block))
  const inFlight: Array<Promise<unknown>> = []
  try {
    while (done < len) {
      const n = Math.min(stageBytes, len - done)
      const stage = allocFor(fh, roundUp(n, block))
      stage.set(bytes.subarray(done, done + n))
      const p = quiet(fh.write(stage, { position: done, signal }))
      writes.push(p)
      inFlight.push(p)
      done += n
      if (inFlight.length >= STAGE_DEPTH) await inFlight.shift()
    }
  } catch {
    // fall through: settleAll below reports the first failure in order
  }
  await settleAll(writes)
}

/**
 * Replace the file's content with `data` (a string, Buffer or any
 * ArrayBufferView, any length): write from position 0, then truncate to the
 * true length, then datasync if `sync`. Unlike `fs`'s FileHandle.writeFile it
 * ignores the handle's current position. A crash or abort part-way can leave
 * part of the new data, or zero padding up to the next block, in the file;
 * use the path form of {@link writeFile} when that must not be visible.
 */
export async function writeFileToHandle(fh: DirectFileHandle, data: string | ArrayBufferView, options?: WriteFileOptions): Promise<void> {
  checkHandle('fh', fh)
  const o = checkOptions<WriteFileOptions>(options)
  const signal = checkSignal(o.signal)
  const sync = checkBool('options.sync', o.sync, false)
  const encoding = o.encoding ?? 'utf8'
  if (typeof encoding !== 'string' || !Buffer.isEncoding(encoding)) throw invalidArgType('options.encoding', 'a valid Buffer encoding', encoding)
  const bytes = bytesOf(data, encoding)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  if (bytes.byteLength > 0) await writeAll(fh, bytes, signal)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  await fh.truncate(bytes.byteLength)
  if (sync) await fh.datasync({ signal })
}

