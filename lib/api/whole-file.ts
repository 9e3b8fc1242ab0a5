// readFile/writeFile over O_DIRECT: whole files of any size. Reads round the
// length up to the handle's block and clip; writes pad the tail into aligned
// memory and truncate to the true length. The path forms open (and for
// writeFile, replace atomically) the file themselves.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { constants as bufferConstants } from 'node:buffer'
import { isAligned } from '../aligned'
import { IoContext } from './context'
import { DirectFileHandle } from './file'
import { open } from './open'
import { errnoError, fileTooLarge, invalidArgType, outOfRange } from '../errors'
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
 * Read a whole file by handle or by path. The path form opens the file
 * (O_DIRECT unless `direct: false`) and closes it when done.
 */
export async function readFile(file: DirectFileHandle | string | Buffer | URL, options?: PathReadFileOptions): Promise<Buffer> {
  if (file instanceof DirectFileHandle) return readFileFromHandle(file, options)
  const o = checkOptions<PathReadFileOptions>(options)
  const signal = checkSignal(o.signal)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  const fh = await open(file, 'r', { context: o.context, direct: o.direct })
  try {
    return await readFileFromHandle(fh, { signal })
  } finally {
    await fh.close()
  }
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

function pathOf(file: string | Buffer | URL): string {
  if (typeof file === 'string') return file
  if (Buffer.isBuffer(file)) return file.toString()
  if (file instanceof URL) return require('node:url').fileURLToPath(file)
  throw invalidArgType('file', 'of type string or an instance of Buffer, URL or DirectFileHandle', file)
}

/**
 * Write a whole file by handle (see {@link writeFileToHandle}) or by path.
 *
 * The path form never shows a half-written or padded file under `path`: it
 * writes a temporary file in the same directory (`.<name>.<random>.tmp`),
 * truncates it to the true length, datasyncs it, and renames it over `path`.
 * An abort or error before the rename removes the temporary file and leaves
 * `path` as it was. With `sync: true` the directory is fsynced after the
 * rename, so the new name is durable too. The new file gets `mode` (default:
 * the replaced file's permission bits), not the old file's owner or hard
 * links. A symlink at `path` is followed: the file it points to is replaced.
 */
export async function writeFile(file: DirectFileHandle | string | Buffer | URL, data: string | ArrayBufferView, options?: PathWriteFileOptions): Promise<void> {
  if (file instanceof DirectFileHandle) return writeFileToHandle(file, data, options)
  const given = pathOf(file)
  const o = checkOptions<PathWriteFileOptions>(options)
  const signal = checkSignal(o.signal)
  const sync = checkBool('options.sync', o.sync, false)
  const encoding = o.encoding ?? 'utf8'
  if (typeof encoding !== 'string' || !Buffer.isEncoding(encoding)) throw invalidArgType('options.encoding', 'a valid Buffer encoding', encoding)
  let mode = o.mode
  if (mode !== undefined && (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
    throw typeof mode !== 'number' ? invalidArgType('options.mode', 'of type number', mode) : outOfRange('options.mode', 'an integer >= 0 && <= 0o7777', mode)
  }
  const bytes = bytesOf(data, encoding)
  if (o.context !== undefined && !(o.context instanceof IoContext)) throw invalidArgType('options.context', 'an instance of IoContext', o.context)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  // Through a symlink, as fs.writeFile writes: replace the file it points to.
  const target = await fs.promises.realpath(given).catch(() => given)
  if (mode === undefined) {
    try {
      mode = (await fs.promises.stat(target)).mode & 0o7777
    } catch {
      mode = 0o666
    }
  }
  const dir = path.dirname(target)
  const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', { mode, context: o.context, direct: o.direct })
  let renamed = false
  try {
    await writeFileToHandle(fh, bytes, { signal, sync: true })
    await fh.close()
    // The last point where an abort can still leave `path` untouched.
    if (signal?.aborted) throw abortedBeforeIssue(signal)
    await fs.promises.rename(tmp, target)
    renamed = true
  } catch (e) {
    await fh.close().catch(() => {})
    await fs.promises.unlink(tmp).catch(() => {})
    throw e
  }
  if (renamed && sync) await fsyncDir(dir)
}

async function fsyncDir(dir: string): Promise<void> {
  let h: fs.promises.FileHandle | undefined
  try {
    h = await fs.promises.open(dir, 'r')
    await h.sync()
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    throw errnoError(typeof err.errno === 'number' ? err.errno : -5, 'fsync', dir)
  } finally {
    await h?.close()
  }
}
