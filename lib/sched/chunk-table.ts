// The chunks in the kernel, by id: what a completion is matched against.
//
// Not a Map. Chunk ids are issued in sequence and deleted as completions
// come back, so a Map of in-flight chunks keeps rehashing into new tables,
// and V8 links each table it leaves behind to its successor (for live
// iterators), entries and all. Once a full GC has moved one such table to
// old space, every later table, and every chunk, request, promise and
// closure reachable from their entries, survives the scavenges as "old
// points to young" until the next full GC: in an await loop at depth 32,
// 20% of everything allocated was promoted, scavenges took 4-8 ms, and GC
// took 10% of the time (1.5% with this table). A fixed array of slots,
// indexed by id, never reallocates. An id whose slot is still held by a
// chunk issued SLOTS ids earlier (one stuck in the kernel meanwhile) goes to
// a small overflow Map.
import type { Chunk } from './request'

const SLOTS = 4096

export class ChunkTable {
  private readonly slots: Array<Chunk | undefined> = new Array<Chunk | undefined>(SLOTS).fill(undefined)
  private readonly overflow = new Map<number, Chunk>()
  /** Chunks in the table. */
  size = 0

  set(chunk: Chunk): void {
    const i = chunk.id % SLOTS
    if (this.slots[i] === undefined) this.slots[i] = chunk
    else this.overflow.set(chunk.id, chunk)
    this.size++
  }

  get(id: number): Chunk | undefined {
    const c = this.slots[id % SLOTS]
    if (c !== undefined && c.id === id) return c
    return this.overflow.size > 0 ? this.overflow.get(id) : undefined
  }

  /** Remove and return the chunk with this id, if it is in the table. */
  take(id: number): Chunk | undefined {
    const i = id % SLOTS
    const c = this.slots[i]
    if (c !== undefined && c.id === id) {
      this.slots[i] = undefined
      this.size--
      return c
    }
    if (this.overflow.size === 0) return undefined
    const o = this.overflow.get(id)
    if (o !== undefined) {
      this.overflow.delete(id)
      this.size--
    }
    return o
  }
}
