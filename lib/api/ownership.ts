// Who owns what while the kernel works: buffers handed to the kernel are
// pinned (never detached), and a handle collected while still open gives
// its descriptor back.
import * as fs from 'node:fs'
import { markAsUntransferable } from 'node:worker_threads'
import { isLibraryOwned } from '../aligned'
import { LinkedNode, LinkedSet } from '../linked-set'
import { afterAll } from '../sched/cancel'

// Like fs.promises.FileHandle: a handle collected while still open closes
// its descriptor, with a warning (the program should have called close()).
export const leakedFds = new FinalizationRegistry<{ fd: number; path: string }>(({ fd, path }) => {
  process.emitWarning(`Closing file descriptor ${fd} (${path}) on garbage collection; call close() on DirectFileHandle`, 'Warning', 'DIRECT_AIO_UNCLOSED_HANDLE')
  fs.close(fd, () => {})
})

// A buffer handed to the kernel must not be transferred (detached) to
// another thread while the kernel may still write it: the receiver could
// free the memory. Like Node's own pooled Buffers, such buffers are marked
// untransferable: a transfer then copies instead of detaching. The mark is
// permanent for that ArrayBuffer. allocAligned's library-owned memory needs
// no mark (see aligned.ts): it is held instead while the kernel may use it
// (by the native ring from prep to completion, else by the request: holdAligned).
const pinned = new WeakSet<ArrayBufferLike>()
export function pin(views: ArrayBufferView[]): void {
  for (const v of views) {
    const ab = v.buffer
    if (pinned.has(ab) || isLibraryOwned(ab)) continue
    if (!(ab instanceof SharedArrayBuffer)) markAsUntransferable(ab)
    pinned.add(ab)
  }
}

/**
 * A handle's outstanding work: what close() waits for (`idle()`), and the
 * writes not yet settled, which the next sync()/datasync() must wait for
 * (the kernel does not order an fsync after writes still in flight).
 */
export class Outstanding {
  #count = 0
  #idle: Array<() => void> = []
  /** Unsettled writes (not a Set: see linked-set.ts). */
  readonly #writes = new LinkedSet<Promise<unknown>>()

  begin(): void {
    this.#count++
  }

  end(): void {
    if (--this.#count === 0 && this.#idle.length > 0) {
      const w = this.#idle
      this.#idle = []
      for (const f of w) f()
    }
  }

  /** Count `p` as outstanding until it settles. */
  track<T>(p: Promise<T>): Promise<T> {
    this.begin()
    return p.finally(() => this.end())
  }

  /** A write (or work that writes) the next sync must wait for, until it settles. */
  write(p: Promise<unknown>): void {
    const node = this.#writes.add(p)
    const forget = (): void => this.#writes.remove(node)
    p.then(forget, forget)
  }

  /**
   * A write request the next sync must wait for, until forgetWrite(node):
   * the request's settle hook calls it, just before it resolves `p` (no
   * reaction, closure or promise of its own per write, as write() takes).
   */
  addWrite(p: Promise<unknown>): LinkedNode<Promise<unknown>> {
    return this.#writes.add(p)
  }

  forgetWrite(node: LinkedNode<Promise<unknown>>): void {
    this.#writes.remove(node)
  }

  /** The writes a sync issued now must wait for (a snapshot; empty: none). */
  writes(): Promise<unknown>[] {
    return this.#writes.values()
  }

  /**
   * Run `submit` (a sync) once every write issued before it has settled. This
   * is the durability contract: a sync covers every write issued earlier on
   * the handle, and neither the kernel nor the queue orders an fsync after
   * writes still in flight. An abort of `signal` meanwhile drops the sync
   * ('queued'). Tracked until the sync settles, so close() cannot release the
   * fd in between.
   */
  afterWrites(signal: AbortSignal | undefined, submit: () => Promise<void>): Promise<void> {
    const prior = this.writes()
    if (prior.length === 0) return submit()
    return this.track(afterAll(prior, signal).then(submit))
  }

  /** Resolves once nothing is outstanding. */
  idle(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise<void>((r) => this.#idle.push(r))
  }
}
