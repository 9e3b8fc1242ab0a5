// AbortSignal wiring and the meaning of an abort. This is the only module
// that touches AbortSignal. One 'abort' listener per signal, however many
// requests share it; requests leave the set when they settle, and the
// listener goes when the set is empty, so a long-lived signal does not grow.
import { abortError, AbortError, AbortStage } from '../errors'
import { LinkedSet } from '../linked-set'
import { ECANCELED, OP_READ } from '../sys-constants'
import type { Request } from './request'

type AbortHandler = (reason: unknown) => void

interface Watch {
  /** Not a Set: a long-lived signal sees one add and one remove per request (see linked-set.ts). */
  handlers: LinkedSet<AbortHandler>
  listener: () => void
}

const watches = new WeakMap<AbortSignal, Watch>()

/** Call `onAbort` when `signal` aborts; returns the function that stops watching. */
export function watchSignal(signal: AbortSignal, onAbort: AbortHandler): () => void {
  let w = watches.get(signal)
  if (!w) {
    const handlers = new LinkedSet<AbortHandler>()
    const listener = () => {
      watches.delete(signal)
      signal.removeEventListener('abort', listener)
      const reason = signal.reason // one getter call, not one per request
      // In the order they were added (values() is newest first). Indexed, not
      // for-of: this runs once per request of a mass abort in code that is
      // still cold, where an iterator allocates a result object per step.
      const hs = handlers.values()
      for (let i = hs.length - 1; i >= 0; i--) hs[i](reason)
      handlers.clear()
    }
    w = { handlers, listener }
    watches.set(signal, w)
    signal.addEventListener('abort', listener)
  }
  const watch = w
  const node = watch.handlers.add(onAbort)
  return () => {
    watch.handlers.remove(node)
    if (watch.handlers.size === 0 && watches.get(signal) === watch) {
      watches.delete(signal)
      signal.removeEventListener('abort', watch.listener)
    }
  }
}

/** Where an aborted request's abort landed, from what its chunks reported. */
export function stageOf(req: Request): AbortStage {
  if (req.chunks.length === 0) return 'queued'
  let transferred = false
  let allKernelCancelled = true
  for (const c of req.chunks) {
    if (c.res !== undefined && c.res > 0) transferred = true
    if (c.res !== ECANCELED) allKernelCancelled = false
  }
  if (!transferred && allKernelCancelled) return 'kernel'
  return 'issued'
}

export function abortErrorFor(req: Request): AbortError {
  // Never issued (the common case of a mass abort): nothing moved, nothing to merge.
  if (req.chunks.length === 0) return abortError('queued', 0, [], req.abort?.reason, { requested: req.length, stack: req.callSite?.stack || null })
  const stage = stageOf(req)
  // No stack by default: it would show only the abort dispatch, and capturing
  // it was most of the cost of settling a mass abort (about 8 us per request).
  // With abortStacks, the stack is the one captured where the request was made.
  // A read that came back short reached the end of the file: it did all it could.
  const eof = req.kind === OP_READ && req.chunks.some((c) => c.res !== undefined && c.res >= 0 && c.res < c.len)
  return abortError(stage, req.transferredBytes(), req.ranges(), req.abort?.reason, { requested: eof ? undefined : req.length, stack: req.callSite?.stack || null })
}

/** With `abortStacks`: the stack of the caller, captured cheaply (formatted only if an AbortError needs it). */
export function captureCallSite(skip: Function): { stack?: string } {
  const site: { stack?: string } = {}
  Error.captureStackTrace(site, skip)
  return site
}

/** An AbortError for a request refused before it was created (signal already aborted). */
export function preAborted(signal: AbortSignal): AbortError {
  return abortError('queued', 0, [], signal.reason)
}

/** The 'queued' AbortError to reject with if `signal` has already aborted, else null. */
export function alreadyAborted(signal: AbortSignal | undefined): AbortError | null {
  return signal?.aborted ? preAborted(signal) : null
}

/** Resolves once every promise has settled; rejects with a 'queued' AbortError if `signal` aborts first. */
export function afterAll(promises: Promise<unknown>[], signal: AbortSignal | undefined): Promise<void> {
  const all = Promise.allSettled(promises).then(() => undefined)
  if (!signal) return all
  if (signal.aborted) return Promise.reject(preAborted(signal))
  return new Promise<void>((resolve, reject) => {
    const stop = watchSignal(signal, () => reject(preAborted(signal)))
    all.then(() => {
      stop()
      resolve()
    })
  })
}

/**
 * Call `fn(reason)` once when `signal` aborts (on the next tick if it already
 * has, so the caller can attach listeners first); returns the function that
 * stops watching. For objects that live longer than one request (streams).
 */
export function onAbort(signal: AbortSignal | undefined, fn: (reason: unknown) => void): () => void {
  if (!signal) return () => {}
  if (signal.aborted) {
    const reason = signal.reason
    let live = true
    process.nextTick(() => live && fn(reason))
    return () => {
      live = false
    }
  }
  return watchSignal(signal, fn)
}
