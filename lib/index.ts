// Public exports only.
/**
 * direct-aio: asynchronous O_DIRECT file I/O for Node.js on Linux, over
 * io_uring, libaio or the libuv thread pool, with AbortSignal cancellation
 * that keeps aborted requests off the device.
 *
 * Start with {@link open}, allocate buffers with {@link allocAligned}, and
 * pass `{ signal }` to any operation; an abort rejects with an
 * {@link AbortError} whose `stage` says whether the device did the work.
 *
 * @packageDocumentation
 */
export { open } from './api/open'
export { DirectFileHandle } from './api/file'
export type { OpenOptions, IoOptions, ReadOptions, WriteOptions, ReadResult, WriteResult, ReadvResult, WritevResult } from './api/types'
export { IoContext } from './api/context'
export type { IoContextOptions, GroupOp, GroupOptions } from './api/types'
export { allocAligned, isAligned, alignUp, alignDown } from './aligned'
export type { AllocAlignedOptions } from './aligned'
export { AbortError } from './errors'
export type { AbortStage, ErrnoError } from './errors'
export { capabilities } from './platform/capabilities'
export { alignment } from './platform/alignment'
export type { Capabilities } from './platform/capabilities'
export type { IoStats } from './sched/stats'
export type { BackendName } from './backends/registry'
export type { PolicyName } from './sched/policy'
// Built on the public DirectFileHandle surface (lib/api/).
export { readFileFromHandle, writeFileToHandle } from './api/whole-file'
export { readFile, writeFile, createReadStream, createWriteStream } from './api/paths'
export type { ReadFileOptions, PathReadFileOptions, WriteFileOptions, PathWriteFileOptions } from './api/whole-file'
export { readAt } from './api/read-at'
export type { ReadAtOptions } from './api/read-at'
export { createReadStreamFromHandle, readableWebStreamFromHandle, DirectReadStream } from './api/read-stream'
export { createWriteStreamToHandle, DirectWriteStream } from './api/write-stream'
export type { ReadStreamOptions, PathReadStreamOptions } from './api/read-stream'
export type { WriteStreamOptions, PathWriteStreamOptions } from './api/write-stream'
export { BufferPool } from './api/buffer-pool'
export type { BufferPoolOptions } from './api/buffer-pool'
export { allocate, punchHole, lock, unlock } from './api/space'
export type { AllocateOptions, PunchHoleOptions, LockOptions } from './api/space'
