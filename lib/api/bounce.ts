// Opt-in bounce copy ({ bounce: true } on open or per call): a read or write
// whose buffer address, position or length does not meet O_DIRECT alignment
// goes through aligned memory instead of failing. A read reads the rounded-out
// range and copies the wanted bytes; a write reads the partial head and tail
// blocks, merges the data, writes the rounded-out range, and truncates back
// when that padded past the end of the file. The bytes copied are counted in
// stats().bytes.bounced.
import { OP_READ, OP_WRITE } from '../sys-constants'
import type { IoFields } from '../validate'
import type { AlignedIo } from './internals'

function roundUp(n: number, a: number): number {
  return Math.ceil(n / a) * a
}

function bytes(view: ArrayBufferView, offset: number, length: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + offset, length)
}

/** Read `[position, position + length)` into `view` at `offset` through aligned memory; resolves with the bytes read. */
export async function bounceRead(h: AlignedIo, view: ArrayBufferView, offset: number, length: number, position: number, io: IoFields): Promise<number> {
  const start = position - (position % h.block)
  const end = roundUp(position + length, h.block)
  const tmp = h.alloc(end - start)
  const n = await h.readAt(tmp, end - start, start, io)
  const skip = position - start
  const got = Math.max(0, Math.min(n - skip, length))
  bytes(view, offset, got).set(tmp.subarray(skip, skip + got))
  h.bounced(got)
  return got
}

/**
 * Write `length` bytes of `view` from `offset` at `position` through aligned
 * memory: read-modify-write of the partial first and last blocks.
 */
export async function bounceWrite(h: AlignedIo, view: ArrayBufferView, offset: number, length: number, position: number, io: IoFields): Promise<number> {
  const block = h.block
  const start = position - (position % block)
  const end = roundUp(position + length, block)
  const tmp = h.alloc(end - start)
  const headPartial = position > start
  const tailPartial = position + length < end
  let size = -1
  if (headPartial || tailPartial) {
    size = await h.size()
    if (headPartial && start < size) await h.readAt(tmp.subarray(0, block), block, start, io)
    const last = end - block
    if (tailPartial && last < size && !(headPartial && last === start)) await h.readAt(tmp.subarray(last - start), block, last, io)
  }
  tmp.set(bytes(view, offset, length), position - start)
  await h.writeAt(tmp, end - start, start, io)
  h.bounced(length)
  if (size >= 0) {
    const trueEnd = Math.max(size, position + length)
    if (end > trueEnd) await h.truncate(trueEnd)
  }
  return length
}

/**
 * readv/writev with bounce: one contiguous buffer stands in for the vector
 * (`run` does the single bounced read or write), then a read is scattered back.
 */
export async function bounceVector(kind: number, views: ArrayBufferView[], total: number, run: (view: Uint8Array) => Promise<number>): Promise<number> {
  const one = kind === OP_WRITE ? Buffer.concat(views.map((v) => bytes(v, 0, v.byteLength))) : Buffer.alloc(total)
  const n = await run(one)
  if (kind !== OP_WRITE) {
    let off = 0
    for (const v of views) {
      if (off >= n) break
      const take = Math.min(v.byteLength, n - off)
      bytes(v, 0, take).set(one.subarray(off, off + take))
      off += take
    }
  }
  return n
}

/**
 * A bounce copy at `position`, or (negative) at the handle's current
 * position, which it then advances by what was moved.
 */
export function bounceAt(h: AlignedIo, kind: number, view: ArrayBufferView, offset: number, length: number, position: number, io: IoFields): Promise<number> {
  const here = position < 0
  const pos = here ? h.pos() : position
  if (here) h.setPos(pos + length)
  const settle = (n: number): number => {
    if (here && h.pos() === pos + length) h.setPos(pos + n)
    return n
  }
  const run = kind === OP_READ ? bounceRead : bounceWrite
  const fail = (e: unknown): never => {
    settle(0)
    throw e
  }
  return run(h, view, offset, length, pos, io).then(settle, fail)
}
