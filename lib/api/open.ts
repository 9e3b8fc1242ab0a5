// open(): flags, O_DIRECT, and the tmpfs case, then a DirectFileHandle.
import * as fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { appendRefused, errnoError, ErrnoError, invalidArgType, invalidArgValue, outOfRange } from '../errors'
import { alignmentOfFd } from '../platform/alignment'
import { deviceInfo, fstatDev } from '../platform/device'
import { EACCES, EINVAL, EIO } from '../sys-constants'
import { defaultContext, IoContext } from './context'
import { DirectFileHandle } from './file'
import { kConstruct, kInternals } from './internals'
import type { OpenOptions } from './types'

const { O_DIRECT, O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC, O_DSYNC } = fs.constants
const O_ACCMODE = 3

const FLAGS: Record<string, number> = {
  r: O_RDONLY,
  rs: O_RDONLY | O_SYNC,
  sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR,
  'rs+': O_RDWR | O_SYNC,
  'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR,
  'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
}

function parseFlags(flags: unknown): number {
  if (flags === undefined || flags === null) return O_RDONLY
  if (typeof flags === 'number') {
    if (!Number.isInteger(flags) || flags < 0 || flags > 0x7fffffff) throw outOfRange('flags', 'a non-negative 32-bit integer', flags)
    return flags
  }
  if (typeof flags === 'string') {
    const f = FLAGS[flags]
    if (f === undefined) throw invalidArgValue('flags', flags, 'is invalid')
    return f
  }
  throw invalidArgType('flags', 'of type string or number', flags)
}

const TMPFS_MAGIC = 0x01021994
const RAMFS_MAGIC = 0x858458f6

/**
 * Since Linux 6.6 tmpfs accepts O_DIRECT at open but serves it from the page
 * cache, so "direct" I/O there is neither direct nor alignment-checked.
 * Refuse it as older kernels did, with the same advice.
 */
async function refuseFakeDirect(fd: number, path: string): Promise<void> {
  let type: number
  try {
    // Device nodes live on devtmpfs, which reports the tmpfs magic too.
    if (!(await fstatDev(fd)).isFile()) return
    type = (await fs.promises.statfs(path)).type
  } catch {
    return
  }
  if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) {
    await new Promise<void>((resolve) => fs.close(fd, () => resolve()))
    const err = new Error('tmpfs') as NodeJS.ErrnoException
    err.code = 'EINVAL'
    throw err
  }
}

/**
 * libaio is asynchronous only for O_DIRECT I/O on regular files and block
 * devices: anything else (buffered I/O, character devices, FIFOs) is done
 * inline in io_submit, which blocks the event loop (a read of an empty FIFO
 * froze it indefinitely). Such files go to the context's thread pool. FIFOs and
 * sockets are refused outside io_uring: a read that waits for a writer would
 * hold a pool thread that no abort can release.
 */
function needsThreadPool(context: IoContext, direct: boolean, st: fs.Stats, path: string): boolean {
  const traits = context[kInternals].traits
  const backend = context.backend
  if (traits.waitsForPeers) return false
  if (st.isFIFO() || st.isSocket()) {
    const what = st.isFIFO() ? 'a FIFO' : 'a socket'
    throw errnoError(EINVAL, 'open', path, `${what} can wait forever for its peer, and only io_uring waits without holding a thread that no abort can release; this context runs on ${backend}: use fs for pipes, or an IoContext({ backend: 'io_uring' })`)
  }
  if (!traits.inlineUnlessDirect) return false
  return !(direct && (st.isFile() || st.isBlockDevice()))
}

function openFd(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))))
}

/**
 * Open a file for direct I/O. `flags` as in `fs.open` ('r', 'r+', 'w', 'w+',
 * 'a', ... or a number); O_DIRECT is added unless `direct: false`.
 */
export async function open(path: string | Buffer | URL, flags?: string | number, options?: OpenOptions): Promise<DirectFileHandle> {
  let p: string
  if (typeof path === 'string') p = path
  else if (Buffer.isBuffer(path)) p = path.toString()
  else if (path instanceof URL) p = fileURLToPath(path)
  else throw invalidArgType('path', 'of type string or an instance of Buffer or URL', path)
  if (p.includes('\u0000')) throw invalidArgValue('path', p, 'must be a string without null bytes')
  const f = parseFlags(flags)
  const o = options ?? {}
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
  const mode = o.mode ?? 0o666
  if (typeof mode !== 'number') throw invalidArgType('options.mode', 'of type number', mode)
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw outOfRange('options.mode', 'an integer >= 0 && <= 0o7777', mode)
  const direct = o.direct ?? true
  if (typeof direct !== 'boolean') throw invalidArgType('options.direct', 'of type boolean', direct)
  const context = o.context ?? defaultContext()
  if (!(context instanceof IoContext)) throw invalidArgType('options.context', 'an instance of IoContext', context)
  context[kInternals].checkOpen()
  const append = (f & O_APPEND) !== 0
  const bounce = o.bounce ?? false
  if (typeof bounce !== 'boolean') throw invalidArgType('options.bounce', 'of type boolean', bounce)
  // O_DIRECT cannot append at an unaligned end of file, so the handle
  // appends itself (api/append.ts): without O_APPEND, and readable, to merge
  // the last partial block.
  const osFlags = direct ? (append ? (f & ~(O_APPEND | O_ACCMODE)) | O_RDWR : f) | O_DIRECT : f
  const notRegular = 'appending with O_DIRECT is supported on regular files only; write at explicit positions with r+, or open with { direct: false }'
  if (direct && append) {
    const st = await fs.promises.stat(p).catch(() => null)
    if (st && !st.isFile()) throw appendRefused(EINVAL, p, notRegular)
  }
  let fd: number
  try {
    fd = await openFd(p, osFlags, mode)
    if (direct) await refuseFakeDirect(fd, p)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (direct && err.code === 'EINVAL') {
      throw errnoError(EINVAL, 'open', p, 'this filesystem does not support O_DIRECT (tmpfs does not); open with { direct: false } for buffered I/O')
    }
    if (direct && append && err.code === 'EACCES' && (f & O_ACCMODE) === O_WRONLY && (await writableOnly(p, f | O_DIRECT, mode))) {
      throw appendRefused(EACCES, p, "appending with O_DIRECT rewrites the file's last partial block, so it must be readable too; open with { direct: false } to append through the page cache")
    }
    throw errnoError(typeof err.errno === 'number' ? err.errno : EIO, 'open', p) as ErrnoError
  }
  try {
    const st = await fstatDev(fd)
    if (direct && append && !st.isFile()) {
      throw appendRefused(EINVAL, p, notRegular)
    }
    const dev = st.isBlockDevice() ? st.rdev : st.dev
    const alignment = direct ? alignmentOfFd(fd, dev) : { memory: 1, offset: 1 }
    const info = deviceInfo(dev)
    const pos = append ? st.size : 0
    const pool = needsThreadPool(context, direct, st, p)
    const maxSectorsBytes = info.maxSectorsKb ? info.maxSectorsKb * 1024 : null
    return Reflect.construct(DirectFileHandle, [kConstruct, { fd, path: p, direct, context, dev, pos, alignment, maxSectorsBytes, pool, append, dsync: (f & O_DSYNC) !== 0, bounce }]) as DirectFileHandle
  } catch (e) {
    fs.close(fd, () => {})
    throw e
  }
}

/** Whether `path` opens write-only (so read access alone was missing). */
async function writableOnly(path: string, flags: number, mode: number): Promise<boolean> {
  try {
    const fd = await openFd(path, flags & ~O_CREAT, mode)
    fs.close(fd, () => {})
    return true
  } catch {
    return false
  }
}
