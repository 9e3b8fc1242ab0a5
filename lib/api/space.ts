// Space and locking, which Node's fs lacks: fallocate(2) to preallocate or
// punch holes, flock(2) for whole-file advisory locks. The calls run on the
// libuv thread pool through src/space.cc (a lock wait can block for as long
// as another holder keeps the lock), never on the event loop.
import { binding } from '../binding'
import { errnoError, outOfRange } from '../errors'
import type { DirectFileHandle } from './file'
import { kTrack } from './internals'
import { abortedBeforeIssue, checkBool, checkHandle, checkInt, checkOptions, checkSignal, MAX_POSITION } from './io-util'

interface SpaceBinding {
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<number>
  flock(fd: number, operation: number): Promise<number>
  constants: { FALLOC_FL_KEEP_SIZE: number; FALLOC_FL_PUNCH_HOLE: number; LOCK_SH: number; LOCK_EX: number; LOCK_NB: number; LOCK_UN: number }
}

function space(): SpaceBinding {
  const s = (binding as unknown as { space?: SpaceBinding }).space
  if (!s) throw errnoError(-38, 'fallocate', undefined, 'this build of the native addon has no space/lock calls; rebuild it (npx node-gyp rebuild)')
  return s
}

const EWOULDBLOCK = -11

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /** FALLOC_FL_KEEP_SIZE: reserve the blocks without changing the file size. Default false. */
  keepSize?: boolean
  /** Checked before the call starts (a running fallocate cannot be interrupted). */
  signal?: AbortSignal
}

/** Options of {@link punchHole}. */
export interface PunchHoleOptions {
  /** Checked before the call starts. */
  signal?: AbortSignal
}

/** Options of {@link lock}. */
export interface LockOptions {
  /** An exclusive (write) lock; false for a shared (read) lock. Default true. */
  exclusive?: boolean
  /** Wait until the lock is free. Default false: resolve `false` at once if another holder has it. */
  wait?: boolean
  /** Checked before the call starts (a waiting flock cannot be interrupted). */
  signal?: AbortSignal
}

function range(offset: unknown, length: unknown): [number, number] {
  const off = checkInt('offset', offset, 0, MAX_POSITION)
  const len = checkInt('length', length, 1, MAX_POSITION)
  if (off + len > MAX_POSITION) throw outOfRange('length', `an integer <= ${MAX_POSITION - off} at offset ${off}`, len)
  return [off, len]
}

async function fallocate(fh: DirectFileHandle, mode: number, off: number, len: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  const res = await fh[kTrack]('fallocate', () => space().fallocate(fh.fd, mode, off, len))
  if (res < 0) {
    const detail = res === -95 ? 'this filesystem does not support this fallocate mode' : undefined
    throw errnoError(res, 'fallocate', fh.path, detail)
  }
}

/**
 * fallocate(2): make sure blocks are allocated for `[offset, offset + length)`,
 * so later writes there cannot fail with ENOSPC. The file grows to cover the
 * range unless `keepSize`. Rejects with `EOPNOTSUPP` where the filesystem
 * cannot preallocate.
 */
export async function allocate(fh: DirectFileHandle, offset: number, length: number, options?: AllocateOptions): Promise<void> {
  checkHandle('fh', fh)
  const [off, len] = range(offset, length)
  const o = checkOptions<AllocateOptions>(options)
  const keepSize = checkBool('options.keepSize', o.keepSize, false)
  const signal = checkSignal(o.signal)
  const k = space().constants
  return fallocate(fh, keepSize ? k.FALLOC_FL_KEEP_SIZE : 0, off, len, signal)
}

/**
 * fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: free the
 * blocks of `[offset, offset + length)`; the range then reads as zeros and
 * the file size does not change. Partial blocks at either end are zeroed.
 */
export async function punchHole(fh: DirectFileHandle, offset: number, length: number, options?: PunchHoleOptions): Promise<void> {
  checkHandle('fh', fh)
  const [off, len] = range(offset, length)
  const o = checkOptions<PunchHoleOptions>(options)
  const signal = checkSignal(o.signal)
  const k = space().constants
  return fallocate(fh, k.FALLOC_FL_PUNCH_HOLE | k.FALLOC_FL_KEEP_SIZE, off, len, signal)
}

/**
 * flock(2): take a whole-file advisory lock on the handle's open file
 * (exclusive by default). Resolves `true` when held; with `wait: false` (the
 * default) resolves `false` at once if another open file holds a conflicting
 * lock. With `wait: true` it resolves when the lock is granted; the wait runs
 * on one libuv thread-pool thread (UV_THREADPOOL_SIZE, default 4), which it
 * occupies until then. Locks belong to the open file: closing the handle
 * releases them; a second lock() on the same handle converts the lock.
 */
export async function lock(fh: DirectFileHandle, options?: LockOptions): Promise<boolean> {
  checkHandle('fh', fh)
  const o = checkOptions<LockOptions>(options)
  const exclusive = checkBool('options.exclusive', o.exclusive, true)
  const wait = checkBool('options.wait', o.wait, false)
  const signal = checkSignal(o.signal)
  if (signal?.aborted) throw abortedBeforeIssue(signal)
  const k = space().constants
  const res = await fh[kTrack]('flock', () => space().flock(fh.fd, (exclusive ? k.LOCK_EX : k.LOCK_SH) | (wait ? 0 : k.LOCK_NB)))
  if (res === EWOULDBLOCK && !wait) return false
  if (res < 0) throw errnoError(res, 'flock', fh.path)
  return true
}

/** flock(2) LOCK_UN: release this handle's lock (a no-op if it holds none). */
export async function unlock(fh: DirectFileHandle): Promise<void> {
  checkHandle('fh', fh)
  const res = await fh[kTrack]('flock', () => space().flock(fh.fd, space().constants.LOCK_UN))
  if (res < 0) throw errnoError(res, 'flock', fh.path)
}
