// One request's state. A request is queued, then issued as one or more
// chunks, then settled. It holds its buffers until every chunk it issued has
// completed: only then does the caller get them back.
import type { DeviceQueue } from './device-queue'

/**
 * Where a request is in its life, the one field that says so:
 * - `'idle'`: not listed in its device queue; it may have chunks in the
 *   kernel and more to issue (it is listed again when a slot frees up);
 * - `'queued'`: listed in its device queue, waiting for a kernel slot;
 * - `'stopped'`: no more chunks will be issued (end of file, an error, or
 *   an abort); waiting for the chunks still in the kernel;
 * - `'settled'`: resolved or rejected; the caller owns the buffers again.
 */
export type RequestState = 'idle' | 'queued' | 'stopped' | 'settled'

/** What a group of indivisible requests shares: once any part is issued, all of it runs. */
export interface Group {
  committed: boolean
}

/**
 * A class, not an object literal, because it lives as long as an I/O: see
 * newList() below for what V8 does with such literals (on Node 24, whose
 * Maglev tracks object literals too, this one was tenured as well).
 */
export class Chunk {
  readonly id: number
  readonly req: Request
  /** Offset of this chunk within the request, in bytes. */
  readonly start: number
  readonly len: number
  res: number | undefined = undefined
  cancelSent = false
  /** performance.now() when handed to the kernel (0 if nobody measures). */
  readonly issuedAt: number

  constructor(id: number, req: Request, start: number, len: number, issuedAt: number) {
    this.id = id
    this.req = req
    this.start = start
    this.len = len
    this.issuedAt = issuedAt
  }
}

export interface RequestInit {
  /** Kept alive while the request exists, so a queued request never outlives its descriptor. */
  owner: object
  kind: number
  syscall: string
  fd: number
  path: string
  device: DeviceQueue
  /** One view plus a byte range of it, or several whole views (vectored). */
  views: ArrayBufferView[]
  vectored: boolean
  byteOffset: number
  length: number
  position: number
  priority: number
  /** Absolute time (performance.now() ms) by which the request should be issued, or Infinity. */
  deadline: number
  chunkSize: number
  maxChunksInFlight: number
  indivisible: boolean
  group: Group | null
}

/**
 * An empty array for an object that lives as long as an I/O, made by a
 * builtin rather than by an `[]` literal. V8 tracks the objects that each
 * literal makes (allocation-site pretenuring): if a scavenge finds nearly all
 * of one literal's recent objects alive, which happens to a request's chunk
 * list whenever a scavenge lands while a depth's worth of requests are in the
 * kernel and that code has just been reoptimized, V8 allocates every later
 * one in old space. Each old, dead list then keeps its young chunk, request,
 * promise and closures alive through every scavenge until the next full GC:
 * an await loop at depth 128 went from 2.5% of its time in GC to 7-10%, with
 * 10 ms pauses, in 4 of 6 fresh runs (`--trace-pretenuring-statistics`
 * showed the tenure decision; `--no-allocation-site-pretenuring`, 0 of 5).
 * Builtins such as Array.prototype.slice allocate without that tracking.
 */
const EMPTY: never[] = []
export function newList<T>(): T[] {
  return EMPTY.slice()
}

/** `[x]`, for the same reason (Node 24 tenured the `[view]` of every read). */
export function listOf<T>(x: T): T[] {
  const list = newList<T>()
  list.push(x)
  return list
}

export class Request {
  readonly owner: object
  readonly kind: number
  readonly syscall: string
  readonly fd: number
  readonly path: string
  readonly device: DeviceQueue
  readonly views: ArrayBufferView[]
  readonly vectored: boolean
  readonly byteOffset: number
  readonly length: number
  readonly position: number
  readonly priority: number
  readonly deadline: number
  readonly chunkSize: number
  readonly maxChunksInFlight: number
  readonly indivisible: boolean
  readonly group: Group | null
  readonly createdAt: number

  state: RequestState = 'idle'
  /** Set once an abort was asked for (it may not stop an indivisible request that went out). */
  abort: { reason: unknown } | null = null
  /** Bytes of the request already handed to chunks. */
  planned = 0
  inKernel = 0
  chunks: Chunk[] = newList<Chunk>()
  /** The first errno a chunk failed with (0: none). */
  error = 0
  resolve!: (bytes: number) => void
  reject!: (err: Error) => void
  onSettle: (() => void) | null = null
  /** With the context's `abortStacks`: where the request was made, for its AbortError's stack. */
  callSite: { stack?: string } | null = null

  constructor(init: RequestInit, now: number) {
    this.owner = init.owner
    this.kind = init.kind
    this.syscall = init.syscall
    this.fd = init.fd
    this.path = init.path
    this.device = init.device
    this.views = init.views
    this.vectored = init.vectored
    this.byteOffset = init.byteOffset
    this.length = init.length
    this.position = init.position
    this.priority = init.priority
    this.deadline = init.deadline
    this.chunkSize = init.chunkSize
    this.maxChunksInFlight = init.maxChunksInFlight
    this.indivisible = init.indivisible
    this.group = init.group
    this.createdAt = now
  }

  /** More chunks remain to be issued. Sync requests have one, zero-length chunk. */
  hasMore(): boolean {
    if (this.state === 'stopped' || this.state === 'settled') return false
    if (this.length === 0) return this.chunks.length === 0
    return this.planned < this.length
  }

  /** A part of an indivisible request went out: all of it runs. */
  get committed(): boolean {
    return this.indivisible && this.chunks.length > 0
  }

  get aborted(): boolean {
    return this.abort !== null
  }

  /** Whether the cancellation contract lets an abort stop this request now. */
  abortable(): boolean {
    if (this.committed) return false
    if (this.group && this.group.committed) return false
    return true
  }

  /** Bytes transferred as one contiguous run from the start (what read/write report). */
  contiguousBytes(): number {
    if (this.chunks.length === 0) return 0 // never issued (a queued abort)
    if (this.chunks.length === 1) {
      // The common case, one chunk (at start 0): no copy, no sort.
      const res = this.chunks[0].res
      return res === undefined || res <= 0 ? 0 : res
    }
    const done = this.chunks.slice().sort((a, b) => a.start - b.start)
    let n = 0
    for (const c of done) {
      if (c.start !== n || c.res === undefined || c.res <= 0) break
      n += c.res
      if (c.res < c.len) break
    }
    return n
  }

  /** Every byte that reached the device, however fragmented. */
  transferredBytes(): number {
    if (this.chunks.length === 0) return 0
    let n = 0
    const cs = this.chunks
    for (let i = 0; i < cs.length; i++) {
      const res = cs[i].res
      if (res !== undefined && res > 0) n += res
    }
    return n
  }

  /** File byte ranges [start, end) that reached the device, merged. */
  ranges(): Array<[number, number]> {
    const rs: Array<[number, number]> = []
    if (this.chunks.length === 0) return rs
    for (const c of this.chunks.slice().sort((a, b) => a.start - b.start)) {
      if (c.res === undefined || c.res <= 0) continue
      const s = this.position + c.start
      const e = s + c.res
      const last = rs[rs.length - 1]
      if (last && last[1] === s) last[1] = e
      else rs.push([s, e])
    }
    return rs
  }

  /** Views for the byte range [start, start + len) of the request. */
  slice(start: number, len: number): ArrayBufferView[] {
    const out: ArrayBufferView[] = []
    let skip = start
    let want = len
    for (const v of this.views) {
      if (want === 0) break
      if (skip >= v.byteLength) {
        skip -= v.byteLength
        continue
      }
      const take = Math.min(v.byteLength - skip, want)
      out.push(new Uint8Array(v.buffer, v.byteOffset + skip, take))
      want -= take
      skip = 0
    }
    return out
  }
}
