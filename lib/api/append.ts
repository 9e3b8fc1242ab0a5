// Append mode over O_DIRECT. The kernel appends at i_size, which is rarely a
// multiple of the block, so an O_DIRECT write on an O_APPEND descriptor
// fails with EINVAL. open() therefore opens such files without O_APPEND (and
// readable, to read the tail back), and the handle appends itself: the
// partial tail block is read, the new bytes merged after it, the block(s)
// rewritten in place at the aligned position, and the file truncated back to
// its true length when the last block was padded. The end of the file is
// tracked per handle, so appends through one handle are exact and ordered;
// another writer appending to the same file at the same time is not seen
// (see docs/api.md, "Append").
import { alreadyAborted } from '../sched/cancel'
import type { IoFields } from '../validate'
import type { AlignedIo } from './internals'

/** Bytes copied per write when the data has to be staged. */
const STAGE = 8 * 1024 * 1024

export class Appender {
  /** The end of the file as this handle knows it: where the next append goes. */
  position: number
  readonly #h: AlignedIo
  #chain: Promise<unknown> = Promise.resolve()

  constructor(hooks: AlignedIo, position: number) {
    this.#h = hooks
    this.position = position
  }

  /** Append `length` bytes of `view` from `offset`; appends run one at a time, in call order. */
  append(view: ArrayBufferView, offset: number, length: number, io: IoFields): Promise<number> {
    const refused = alreadyAborted(io.signal)
    if (refused) return Promise.reject(refused)
    if (length === 0) return Promise.resolve(0)
    const run = (): Promise<number> => this.#append(view, offset, length, io)
    const p = this.#chain.then(run, run)
    this.#chain = p.catch(() => {})
    return p
  }

  async #append(view: ArrayBufferView, offset: number, length: number, io: IoFields): Promise<number> {
    const refused = alreadyAborted(io.signal)
    if (refused) throw refused
    const h = this.#h
    const block = h.block
    const start = this.position
    const head = start % block
    let pos = start - head
    const src = new Uint8Array(view.buffer, view.byteOffset + offset, length)
    try {
      if (head === 0 && length % block === 0 && h.aligned(view, offset)) {
        // Nothing to merge: the caller's memory goes to the kernel as is.
        await h.writeAt(Buffer.from(src.buffer, src.byteOffset, length), length, pos, io)
      } else {
        let done = 0
        let fill = head
        let stage = h.alloc(Math.min(STAGE, roundUp(head + length, block)))
        if (head > 0) {
          const n = await h.readAt(stage, block, pos, io)
          if (n < head) throw new Error(`the file is shorter (${pos + n} bytes) than this append handle expected (${start}); was it truncated by another writer?`)
        }
        while (done < length) {
          const n = Math.min(stage.length - fill, length - done)
          stage.set(src.subarray(done, done + n), fill)
          fill += n
          done += n
          const padded = roundUp(fill, block)
          if (padded > fill) stage.fill(0, fill, padded)
          await h.writeAt(stage, padded, pos, io)
          pos += padded
          fill = 0
          if (done < length) stage = h.alloc(Math.min(STAGE, roundUp(length - done, block)))
        }
        if (pos > start + length) {
          await h.truncate(start + length)
          if (h.datasync) await h.datasync()
        }
      }
    } catch (e) {
      // Undo: the bytes before `start` were rewritten unchanged, so cutting
      // the file back to `start` restores it. The position stays.
      await h.truncate(start).catch(() => {})
      throw e
    }
    this.position = start + length
    return length
  }
}

function roundUp(n: number, a: number): number {
  return Math.ceil(n / a) * a
}
