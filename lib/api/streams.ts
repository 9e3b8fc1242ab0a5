// What the read and write streams (read-stream.ts, write-stream.ts) share:
// where the file comes from (a handle, or an opener the stream owns), the
// chunk limits, the `signal` option, and the tail of destroy(): the error a
// user abort reports, and closing a handle the stream opened itself.
import type { Readable, Writable } from 'node:stream'
import { abortError, AbortError } from '../errors'
import { onAbort } from '../sched/cancel'
import type { DirectFileHandle } from './file'
import { checkHandle, checkSignal } from './io-util'

export const DEFAULT_CHUNK = 64 * 1024
export const MAX_CHUNK = 64 * 1024 * 1024
/** The user-abort reason of a stream whose signal has not aborted. */
export const kNoAbort = Symbol('no abort')

export type Opener = () => Promise<DirectFileHandle>

export interface Source {
  fh: DirectFileHandle | null
  opener: Opener | null
  path: string
}

export function sourceOf(file: unknown, opener: Opener | null, pathName: string): Source {
  if (opener) return { fh: null, opener, path: pathName }
  return { fh: checkHandle('fh', file), opener: null, path: (file as DirectFileHandle).path }
}

/**
 * Check the stream's `signal` option and watch it: an abort (of a stream not
 * yet destroyed) records the reason with `record`, aborts the stream's
 * requests through `ac` and destroys the stream. Returns the unwatch function.
 */
export function watchUserAbort(stream: Readable | Writable, signal: unknown, ac: AbortController, record: (reason: unknown) => void): () => void {
  return onAbort(checkSignal(signal), (reason) => {
    if (stream.destroyed) return
    record(reason)
    ac.abort(reason)
    stream.destroy()
  })
}

/**
 * The end of a stream's _destroy, once its requests have settled: a user
 * abort (`userAbort` not kNoAbort) reports `abortErr`, the AbortError one of
 * them rejected with, or a 'queued' one; a handle the stream opened itself
 * is closed (a close error is reported if nothing else is); then `cb`.
 */
export async function endDestroy(src: { fh: DirectFileHandle | null; opener: Opener | null }, err: Error | null, userAbort: unknown, abortErr: AbortError | null | undefined, cb: (err?: Error | null) => void): Promise<void> {
  let e: Error | null = err
  if (userAbort !== kNoAbort) e = abortErr ?? abortError('queued', 0, [], userAbort)
  if (src.opener && src.fh) {
    try {
      await src.fh.close()
    } catch (ce) {
      e ??= ce as Error
    }
  }
  cb(e)
}
