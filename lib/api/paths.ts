// The path forms of the application API: readFile/writeFile and the stream
// constructors given a path (or a handle, which goes straight to the handle
// forms). They open (and for writeFile, atomically replace) the file
// themselves. Kept apart from the handle forms so that DirectFileHandle can
// delegate to those without an import cycle through open().
import * as fs from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { errnoError, invalidArgType, outOfRange } from '../errors'
import { IoContext } from './context'
import { DirectFileHandle } from './file'
import { abortedBeforeIssue, checkBool, checkOptions, checkSignal, bytesOf } from './io-util'
import { open } from './open'
import { createReadStreamFromHandle, DirectReadStream } from './read-stream'
import type { PathReadStreamOptions } from './read-stream'
import { createWriteStreamToHandle, DirectWriteStream } from './write-stream'
import type { PathWriteStreamOptions } from './write-stream'
import { sourceOf } from './streams'
import { readFileFromHandle, writeFileToHandle } from './whole-file'
import type { PathReadFileOptions, PathWriteFileOptions } from './whole-file'

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
function pathArg(file: unknown): string {
  if (typeof file === 'string') return file
  if (Buffer.isBuffer(file)) return file.toString()
  if (file instanceof URL) return require('node:url').fileURLToPath(file)
  throw invalidArgType('path', 'of type string or an instance of Buffer, URL or DirectFileHandle', file)
}

/**
 * {@link createReadStreamFromHandle} for a handle, or for a path: the path
 * form opens the file read-only (its errors come as the stream's 'error') and
 * closes it when the stream closes.
 */
export function createReadStream(file: DirectFileHandle | string | Buffer | URL, options?: PathReadStreamOptions): DirectReadStream {
  if (file instanceof DirectFileHandle) return createReadStreamFromHandle(file, options)
  const p = pathArg(file)
  const o = checkOptions<PathReadStreamOptions>(options)
  if (o.context !== undefined && !(o.context instanceof IoContext)) throw invalidArgType('options.context', 'an instance of IoContext', o.context)
  return new DirectReadStream(sourceOf(null, () => open(p, 'r', { context: o.context, direct: o.direct }), p), o)
}

/**
 * {@link createWriteStreamToHandle} for a handle, or for a path: the path
 * form opens the file with `flags` (default 'w') and closes it when the
 * stream closes.
 */
export function createWriteStream(file: DirectFileHandle | string | Buffer | URL, options?: PathWriteStreamOptions): DirectWriteStream {
  if (file instanceof DirectFileHandle) return createWriteStreamToHandle(file, options)
  const p = pathArg(file)
  const o = checkOptions<PathWriteStreamOptions>(options)
  if (o.context !== undefined && !(o.context instanceof IoContext)) throw invalidArgType('options.context', 'an instance of IoContext', o.context)
  const flags = o.flags ?? 'w'
  return new DirectWriteStream(sourceOf(null, () => open(p, flags, { mode: o.mode, context: o.context, direct: o.direct }), p), o)
}
