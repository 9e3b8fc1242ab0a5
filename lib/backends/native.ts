// io_uring and libaio share one native shape: a Ring whose completions
// arrive through an eventfd watched by one uv_poll, delivered in batches.
import { binding, NativeRing } from '../binding'
import { Backend, BackendEvents, BackendName } from './backend'

// Completions reach JS at most this many at a time. After each batch the
// microtask checkpoint runs the continuations it resolved, and the
// scheduler's microtask flush puts their follow-up requests into the kernel
// before the next batch is processed: the device is refilled as completions
// are reaped instead of waiting, idle, until JS has processed every
// completion of a wakeup. (One batch per wakeup cost 25-40% of the IOPS of
// an await loop at depth 32-128: the device sat idle up to a third of the
// time; see bench/results/APP-LOOP.md.) Smaller batches cost one more
// io_uring_enter/io_submit per batch.
const BATCH_PAIRS = 8

export class NativeBackend implements Backend {
  readonly name: BackendName
  readonly capacity: number
  readonly canCancel = true
  /** RingWrap::Prep holds it from prep to retirement (src/ring_wrap.cc). */
  readonly holdsLibraryMemory = true
  private readonly ring: NativeRing
  private readonly batch: Float64Array

  /** Throws the kernel's refusal (errno, syscall) if the ring cannot be created. */
  constructor(name: 'io_uring' | 'libaio', entries: number, events: BackendEvents) {
    this.name = name
    this.capacity = entries
    this.batch = new Float64Array(BATCH_PAIRS * 2)
    const batch = this.batch
    this.ring = new binding.Ring(name, entries, batch, (n: number) => {
      for (let i = 0; i < n; i++) {
        const id = batch[2 * i]
        const res = batch[2 * i + 1]
        if (id < 0) events.cancelResult(-id - 1, res)
        else events.complete(id, res)
      }
      events.batchEnd()
    })
  }

  prep(id: number, kind: number, fd: number, position: number, views: ArrayBufferView | ArrayBufferView[] | null, byteOffset: number, byteLength: number): number {
    if (views === null) return this.ring.prep(id, kind, fd, position)
    if (Array.isArray(views)) return this.ring.prep(id, kind, fd, position, views)
    return this.ring.prep(id, kind, fd, position, views, byteOffset, byteLength)
  }

  cancel(id: number): number {
    return this.ring.cancel(id)
  }

  submit(): number {
    return this.ring.submit()
  }

  close(): void {
    this.ring.close()
  }

  nativeStats() {
    const s = this.ring.stats()
    return { liveOps: s.liveOps, liveRings: s.liveRings, pending: s.pending }
  }
}
