// A backend with no kernel behind it, for the unit tests of the scheduler,
// the policies and the registry: prep() records operations, submit() hands
// them to the test, and the test completes them (in any order) with
// complete(id, res). No addon, no root, no files.
import type { Backend, BackendEvents } from '../../lib/backends/backend'
import { DeviceQueue } from '../../lib/sched/device-queue'
import { createPolicy, PolicyName } from '../../lib/sched/policy'
import { Request, RequestInit } from '../../lib/sched/request'
import { Scheduler } from '../../lib/sched/scheduler'

export interface FakeOp {
  id: number
  kind: number
  fd: number
  position: number
  length: number
}

export class FakeBackend implements Backend {
  readonly name = 'fake'
  /** Every operation prepped, in order. */
  readonly prepped: FakeOp[] = []
  /** Operations submitted and not completed yet. */
  readonly inKernel = new Map<number, FakeOp>()
  readonly cancels: number[] = []
  readonly holdsLibraryMemory = false
  submits = 0
  private staged: FakeOp[] = []
  closed = false

  constructor(
    private readonly events: BackendEvents,
    readonly capacity = 4,
    readonly canCancel = true,
  ) {}

  prep(id: number, kind: number, fd: number, position: number, _views: ArrayBufferView | ArrayBufferView[] | null, _byteOffset: number, byteLength: number): number {
    const op = { id, kind, fd, position, length: byteLength }
    this.prepped.push(op)
    this.staged.push(op)
    return 0
  }

  cancel(id: number): number {
    this.cancels.push(id)
    return 0
  }

  submit(): number {
    this.submits++
    const n = this.staged.length
    for (const op of this.staged) this.inKernel.set(op.id, op)
    this.staged = []
    return n
  }

  /** The kernel finished `id` with `res` (bytes, or a negative errno); then the batch ends. */
  complete(id: number, res?: number): void {
    const op = this.inKernel.get(id)
    if (!op) throw new Error(`op ${id} is not in the kernel`)
    this.inKernel.delete(id)
    this.events.complete(id, res ?? op.length)
    this.events.batchEnd()
  }

  /** Complete the oldest operation in the kernel (with its full length). */
  completeOldest(res?: number): FakeOp {
    const op = this.inKernel.values().next().value as FakeOp
    this.complete(op.id, res)
    return op
  }

  /** The kernel answered a cancel. */
  cancelAnswer(id: number, res: number): void {
    this.events.cancelResult(id, res)
  }

  close(): void {
    this.closed = true
  }

  nativeStats() {
    return { liveOps: this.inKernel.size, liveRings: 0, pending: this.inKernel.size }
  }
}

/** A scheduler on a FakeBackend, with one device queue. */
export function fakeScheduler(opts: { capacity?: number; canCancel?: boolean; limit?: number; policy?: PolicyName; kernelCancel?: 'auto' | 'trust' | 'never' } = {}) {
  const sched = new Scheduler({ kernelCancel: opts.kernelCancel ?? 'auto' })
  const backend = new FakeBackend({ complete: sched.complete, cancelResult: sched.cancelResult, batchEnd: sched.batchEnd }, opts.capacity ?? 4, opts.canCancel ?? true)
  sched.backend = backend
  const device = new DeviceQueue('8:0', opts.limit ?? backend.capacity, null, createPolicy(opts.policy ?? 'priority'))
  sched.addDevice(device)
  return { sched, backend, device }
}

let nextFd = 100

/** A request on `device` and a promise for its outcome (settled: bytes or the error). */
export function request(device: DeviceQueue, init: Partial<RequestInit> = {}): { req: Request; done: Promise<{ bytes?: number; error?: Error & { code?: string; stage?: string } }> } {
  const length = init.length ?? 4096
  const req = new Request(
    {
      owner: {},
      kind: 0,
      syscall: 'read',
      fd: nextFd++,
      path: '/fake',
      device,
      views: [new Uint8Array(length)],
      vectored: false,
      byteOffset: 0,
      length,
      position: 0,
      priority: 0,
      deadline: Infinity,
      chunkSize: 1 << 20,
      maxChunksInFlight: 4,
      indivisible: false,
      group: null,
      ...init,
    },
    performance.now(),
  )
  const done = new Promise<{ bytes?: number; error?: Error & { code?: string; stage?: string } }>((resolve) => {
    req.resolve = (bytes) => resolve({ bytes })
    req.reject = (error) => resolve({ error })
  })
  return { req, done }
}

/** Let setImmediate (the scheduler's flush) run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
