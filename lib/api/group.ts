// IoContext.group(): several reads or writes, possibly across files, as one
// unit with respect to cancellation. Every member is validated before any is
// queued, so a bad member issues nothing.
import { abortError, AbortError, invalidArgType, invalidArgValue, outOfRange } from '../errors'
import { preAborted, watchSignal } from '../sched/cancel'
import { listOf, type Group } from '../sched/request'
import { OP_READ, OP_WRITE } from '../sys-constants'
import { checkBoolean, checkOptionsObject, checkPriority, checkRange, checkSignal, checkView, parsePosition } from '../validate'
import { DirectFileHandle, kCheck, kEnqueue } from './file'
import { Enqueued, HasInternals, kInternals } from './internals'
import type { GroupOp, GroupOptions } from './types'

/** Validate one member; returns the function that queues it. */
function prepareMember(ctx: HasInternals, op: GroupOp, index: number, group: Group, indivisible: boolean, priority: number): () => Enqueued {
  if (op === null || typeof op !== 'object') throw invalidArgType(`ops[${index}]`, 'of type object', op)
  const file = op.file
  if ((file as { context?: unknown } | undefined)?.context !== ctx) throw invalidArgValue(`ops[${index}].file`, file, 'must belong to this IoContext')
  if (!(file instanceof DirectFileHandle)) throw invalidArgType(`ops[${index}].file`, 'a DirectFileHandle', file)
  const syscall = op.op ?? 'write'
  if (syscall !== 'write' && syscall !== 'read') throw invalidArgValue(`ops[${index}].op`, syscall, "must be 'read' or 'write'")
  const view = checkView(`ops[${index}].buffer`, op.buffer)
  const { offset, length } = checkRange(view.byteLength, op.offset, op.length, `ops[${index}].`)
  const p = parsePosition(op.position)
  if (p < 0) throw outOfRange(`ops[${index}].position`, '>= 0', op.position)
  file[kCheck](syscall, [view], [offset], [length], p)
  return () =>
    file[kEnqueue](syscall, {
      kind: syscall === 'write' ? OP_WRITE : OP_READ,
      views: listOf(view),
      vectored: false,
      byteOffset: offset,
      length,
      position: p,
      signal: undefined,
      priority,
      deadline: Infinity,
      indivisible,
      group: indivisible ? group : null,
      target: null,
    })
}

/** The body of IoContext.group(). */
export async function runGroup(ctx: HasInternals, ops: GroupOp[], options: GroupOptions): Promise<number[]> {
  if (!Array.isArray(ops)) throw invalidArgType('ops', 'an array', ops)
  checkOptionsObject(options)
  const signal = checkSignal(options.signal)
  ctx[kInternals].checkOpen()
  if (signal?.aborted) throw preAborted(signal)
  const indivisible = checkBoolean('options.indivisible', options.indivisible, true)
  const priority = checkPriority(options.priority)
  const group: Group = { committed: false }
  const prepared = ops.map((op, i) => prepareMember(ctx, op, i, group, indivisible, priority))
  const members = prepared.map((queue) => queue())
  let aborted = false
  let reason: unknown
  const stop = signal
    ? watchSignal(signal, (r) => {
        aborted = true
        reason = r
        if (!group.committed || !indivisible) for (const m of members) m.abort(r)
      })
    : () => {}
  const settled = await Promise.allSettled(members.map((m) => m.promise))
  stop()
  const bytes = settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason instanceof AbortError ? s.reason.bytesTransferred : 0))
  if (aborted) {
    const total = bytes.reduce((a, b) => a + b, 0)
    const stages = settled.map((s) => (s.status === 'rejected' && s.reason instanceof AbortError ? s.reason.stage : 'issued'))
    const stage = stages.every((st) => st === 'queued') ? 'queued' : stages.every((st) => st === 'queued' || st === 'kernel') ? 'kernel' : 'issued'
    const ranges = settled.flatMap((s) => (s.status === 'rejected' && s.reason instanceof AbortError ? s.reason.ranges : []))
    throw abortError(stage, total, ranges, reason)
  }
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
  return bytes
}
