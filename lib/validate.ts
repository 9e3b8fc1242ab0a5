// Argument checks written once, with Node's messages and codes. Everything
// a caller passes is checked here before anything is queued.
import { addressOf, alignedStartOf } from './aligned'
import { ErrnoError, invalidArgType, invalidArgValue, misaligned, misalignedView, outOfRange } from './errors'

export const MAX_POSITION = Number.MAX_SAFE_INTEGER

export function isView(v: unknown): v is ArrayBufferView {
  return ArrayBuffer.isView(v)
}

/** A buffer the kernel may use: a view whose memory cannot move. */
export function checkView(name: string, v: unknown): ArrayBufferView {
  if (!isView(v)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', v)
  const ab = v.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean }
  if (ab.resizable === true || ab.growable === true) {
    throw invalidArgValue(name, v, 'must not be backed by a resizable ArrayBuffer (its memory may move while the kernel uses it)')
  }
  return v
}

/** An integer option in [min, max] (IoContext options). */
export function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v)
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(name, `an integer >= ${min} and <= ${max}`, v)
  return v
}

/** One of a fixed set of strings. */
export function checkOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(v)) throw invalidArgValue(name, v, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`)
  return v as T
}

/**
 * `offset` and `length` into a view of `byteLength` bytes (defaults: 0 and
 * the rest). `prefix` names them in messages (`'ops[2].'`).
 */
export function checkRange(byteLength: number, offset: unknown, length: unknown, prefix = ''): { offset: number; length: number } {
  const off = offset ?? 0
  if (typeof off !== 'number') throw invalidArgType(`${prefix}offset`, 'of type number', off)
  if (!Number.isInteger(off) || off < 0 || off > byteLength) throw outOfRange(`${prefix}offset`, `an integer >= 0 && <= ${byteLength}`, off)
  const len = length ?? byteLength - off
  if (typeof len !== 'number') throw invalidArgType(`${prefix}length`, 'of type number', len)
  if (!Number.isInteger(len) || len < 0 || len > byteLength - off) throw outOfRange(`${prefix}length`, `an integer >= 0 && <= ${byteLength - off}`, len)
  return { offset: off, length: len }
}

/** null/undefined/-1 mean "current position" (-1 returned). */
export function parsePosition(position: unknown): number {
  if (position === undefined || position === null) return -1
  if (typeof position === 'bigint') {
    if (position === -1n) return -1
    if (position < 0n || position > BigInt(MAX_POSITION)) throw outOfRange('position', `>= 0 && <= ${MAX_POSITION}`, position)
    return Number(position)
  }
  if (typeof position !== 'number') throw invalidArgType('position', 'of type number or bigint', position)
  if (position === -1) return -1
  if (!Number.isInteger(position)) throw outOfRange('position', 'an integer', position)
  if (position < 0 || position > MAX_POSITION) throw outOfRange('position', `>= 0 && <= ${MAX_POSITION}`, position)
  return position
}

export function checkOptionsObject(o: unknown): void {
  if (o === null || typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', signal)
  return signal
}

export function checkPriority(priority: unknown): number {
  const p = priority ?? 0
  if (typeof p !== 'number') throw invalidArgType('options.priority', 'of type number', p)
  if (!Number.isSafeInteger(p)) throw outOfRange('options.priority', 'a safe integer', p)
  return p
}

export function checkBoolean(name: string, v: unknown, dflt: boolean): boolean {
  const b = v ?? dflt
  if (typeof b !== 'boolean') throw invalidArgType(name, 'of type boolean', b)
  return b
}

/** `deadline` (milliseconds from now) as an absolute performance.now() time; Infinity when absent. */
export function checkDeadline(deadline: unknown, now: number): number {
  if (deadline === undefined) return Infinity
  if (typeof deadline !== 'number') throw invalidArgType('options.deadline', 'of type number', deadline)
  if (!(deadline >= 0) || deadline === Infinity) throw outOfRange('options.deadline', 'a finite number >= 0 (milliseconds from now)', deadline)
  return now + deadline
}

export interface IoFields {
  signal: AbortSignal | undefined
  priority: number
  indivisible: boolean
  deadline: number
  /** Per-call bounce option; undefined: the handle's default. */
  bounce: boolean | undefined
}

/** The per-call options every operation takes: signal, priority, indivisible, deadline. */
export function checkIoOptions(o: unknown): IoFields {
  if (o === undefined || o === null) return { signal: undefined, priority: 0, indivisible: false, deadline: Infinity, bounce: undefined }
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
  const opts = o as { signal?: unknown; priority?: unknown; indivisible?: unknown; deadline?: unknown; bounce?: unknown }
  const signal = checkSignal(opts.signal)
  const priority = checkPriority(opts.priority)
  const indivisible = checkBoolean('options.indivisible', opts.indivisible, false)
  const deadline = checkDeadline(opts.deadline, performance.now())
  const bounce = opts.bounce === undefined ? undefined : checkBoolean('options.bounce', opts.bounce, false)
  return { signal, priority, indivisible, deadline, bounce }
}

export interface RwArgs {
  view: ArrayBufferView
  offset: number
  length: number
  position: number
  io: IoFields
}

function checkWriteOnly(io: IoFields, isRead: boolean): IoFields {
  if (io.indivisible && isRead) throw invalidArgValue('options.indivisible', true, 'applies to writes only')
  return io
}

/**
 * read()/write() arguments in their three forms: `(buffer, offset, length,
 * position)`, `(buffer, options)` and `({ buffer, ...options })`.
 */
export function parseRwArgs(buffer: unknown, offsetOrOptions: unknown, length: unknown, position: unknown, isRead: boolean): RwArgs {
  let opts: { buffer?: unknown; offset?: unknown; length?: unknown; position?: unknown } | undefined
  let buf = buffer
  let off: unknown = offsetOrOptions
  let len: unknown = length
  let pos: unknown = position
  if (!isView(buf) && buf !== null && typeof buf === 'object') {
    opts = buf as typeof opts // read({ buffer, offset, length, position, signal })
    buf = opts!.buffer
  } else if (offsetOrOptions !== null && typeof offsetOrOptions === 'object') {
    opts = offsetOrOptions as typeof opts
  }
  if (opts) {
    off = opts.offset
    len = opts.length
    pos = opts.position
  }
  const view = checkView('buffer', buf)
  const range = checkRange(view.byteLength, off, len)
  const p = parsePosition(pos)
  const io = checkWriteOnly(checkIoOptions(opts), isRead)
  return { view, offset: range.offset, length: range.length, position: p, io }
}

export interface VectorArgs {
  views: ArrayBufferView[]
  total: number
  position: number
  io: IoFields
}

/** readv()/writev() arguments: `(buffers, position, options)` or `(buffers, options)`. */
export function parseVectorArgs(buffers: unknown, position: unknown, options: unknown, isRead: boolean): VectorArgs {
  if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an instance of Array', buffers)
  const views = buffers.map((b, i) => checkView(`buffers[${i}]`, b))
  if (views.length > 1024) throw outOfRange('buffers.length', '<= 1024 (IOV_MAX)', views.length)
  if (position !== null && typeof position === 'object' && options === undefined) {
    options = position
    position = (options as { position?: unknown }).position
  }
  const p = parsePosition(position)
  const io = checkWriteOnly(checkIoOptions(options), isRead)
  let total = 0
  for (const v of views) total += v.byteLength
  return { views, total, position: p, io }
}

/** ftruncate()'s length. */
export function checkFileLength(len: unknown): number {
  if (typeof len !== 'number') throw invalidArgType('len', 'of type number', len)
  if (!Number.isInteger(len) || len < 0 || len > MAX_POSITION) throw outOfRange('len', `an integer >= 0 && <= ${MAX_POSITION}`, len)
  return len
}

/**
 * The O_DIRECT alignment error for a call, or null if it meets the rules:
 * the position and each length a multiple of `alignment.offset`, each
 * buffer address (view plus offset) a multiple of `alignment.memory`.
 */
export function misalignment(syscall: string, path: string, alignment: { memory: number; offset: number }, views: ArrayBufferView[], offsets: number[], lengths: number[], position: number): ErrnoError | null {
  const { memory, offset } = alignment
  if (position >= 0 && position % offset !== 0) return misaligned(syscall, path, 'position', position, offset)
  for (let i = 0; i < views.length; i++) {
    if (lengths[i] === 0) continue
    const addr = addressOf(views[i], offsets[i])
    if (addr % memory !== 0) {
      // Memory from allocAligned() seen through a view that does not start where it is aligned.
      const known = alignedStartOf(views[i].buffer)
      if (known && known.alignment >= memory) return misalignedView(syscall, path, addr, memory, views[i].byteOffset + offsets[i], known.start)
      return misaligned(syscall, path, 'buffer address', addr, memory)
    }
    if (lengths[i] % offset !== 0) return misaligned(syscall, path, 'length', lengths[i], offset)
  }
  return null
}

/** stat()'s options: `{ bigint }`. */
export function checkStatOptions(o: unknown): boolean {
  if (o === undefined || o === null) return false
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o)
  return checkBoolean('options.bigint', (o as { bigint?: unknown }).bigint, false)
}

/** The buffer fs.promises allocates for read() without one. */
export const DEFAULT_READ_SIZE = 16384

/** The size of the buffer read() allocates: `length` if it is a valid one (parseRwArgs reports a bad one), else `dflt`. */
export function readSizeOf(length: unknown, dflt: number): number {
  return typeof length === 'number' && Number.isInteger(length) && length >= 0 && length <= 2 ** 31 - 1 ? length : dflt
}

/** An object literal (not a view, an ArrayBuffer, an array...): the options form. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** read() without a buffer (nothing, or options without one): the options form with a fresh buffer from `alloc`. */
export function withReadBuffer(buffer: unknown, alloc: (size: number) => Buffer): unknown {
  const o = buffer as { buffer?: unknown; length?: unknown } | undefined
  if (o !== undefined && !(isPlainObject(o) && o.buffer === undefined)) return buffer
  return { ...o, buffer: alloc(readSizeOf(o?.length, DEFAULT_READ_SIZE)) }
}
