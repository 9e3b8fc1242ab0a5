// The last fallback: Node's fs on the libuv thread pool, same O_DIRECT fds and
// aligned buffers. At most `capacity` (UV_THREADPOOL_SIZE) operations are
// handed to libuv at once, so nothing waits uncancellably in libuv's own
// queue: everything else waits in direct-aio's queue, where aborts work.
import * as fs from 'node:fs'
import { binding } from '../binding'
import { threadpoolSize } from '../config'
import { EBADF, EINVAL, EIO, OP_FDATASYNC, OP_FSYNC, OP_READ, OP_WRITE } from '../sys-constants'
import type { Backend, BackendEvents } from './backend'

interface Staged {
  id: number
  kind: number
  fd: number
  position: number
  views: ArrayBufferView | ArrayBufferView[] | null
  byteOffset: number
  byteLength: number
}

export class ThreadpoolBackend implements Backend {
  readonly name = 'threadpool' as const
  readonly capacity: number
  readonly canCancel = false
  readonly holdsLibraryMemory = false
  private staged: Staged[] = []
  private running = 0
  private closed = false

  constructor(private readonly events: BackendEvents) {
    this.capacity = threadpoolSize()
  }

  prep(id: number, kind: number, fd: number, position: number, views: ArrayBufferView | ArrayBufferView[] | null, byteOffset: number, byteLength: number): number {
    if (this.closed) return EBADF
    this.staged.push({ id, kind, fd, position, views, byteOffset, byteLength })
    return 0
  }

  cancel(): number {
    return EINVAL
  }

  submit(): number {
    const staged = this.staged
    this.staged = []
    for (const op of staged) this.start(op)
    return staged.length
  }

  private start(op: Staged): void {
    this.running++
    const done = (err: NodeJS.ErrnoException | null, n?: number) => {
      this.running--
      this.events.complete(op.id, err ? (typeof err.errno === 'number' ? err.errno : EIO) : (n ?? 0))
      this.events.batchEnd()
    }
    const pos = op.position < 0 ? null : op.position
    switch (op.kind) {
      case OP_READ:
        if (Array.isArray(op.views)) fs.readv(op.fd, op.views as NodeJS.ArrayBufferView[], pos, done)
        else fs.read(op.fd, op.views as NodeJS.ArrayBufferView, op.byteOffset, op.byteLength, pos, done)
        break
      case OP_WRITE:
        if (Array.isArray(op.views)) fs.writev(op.fd, op.views as NodeJS.ArrayBufferView[], pos, done)
        else fs.write(op.fd, op.views as NodeJS.ArrayBufferView, op.byteOffset, op.byteLength, pos, done)
        break
      case OP_FSYNC:
        fs.fsync(op.fd, (err) => done(err, 0))
        break
      case OP_FDATASYNC:
        fs.fdatasync(op.fd, (err) => done(err, 0))
        break
      default:
        process.nextTick(() => done(Object.assign(new Error('bad op'), { errno: EINVAL })))
    }
  }

  close(): void {
    this.closed = true
  }

  nativeStats() {
    const s = binding.nativeStats()
    return { liveOps: s.liveOps, liveRings: s.liveRings, pending: this.running }
  }
}
