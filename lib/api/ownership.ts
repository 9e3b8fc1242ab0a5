// Who owns what while the kernel works: buffers handed to the kernel are
// pinned (never detached), and a handle collected while still open gives
// its descriptor back.
import * as fs from 'node:fs'
import { markAsUntransferable } from 'node:worker_threads'
import { isLibraryOwned } from '../aligned'

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
// no mark (see aligned.ts): requests hold it instead (holdAligned).
const pinned = new WeakSet<ArrayBufferLike>()
export function pin(views: ArrayBufferView[]): void {
  for (const v of views) {
    const ab = v.buffer
    if (pinned.has(ab) || isLibraryOwned(ab)) continue
    if (!(ab instanceof SharedArrayBuffer)) markAsUntransferable(ab)
    pinned.add(ab)
  }
}
