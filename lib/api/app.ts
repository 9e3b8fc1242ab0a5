// The application API's handle forms, in one place, for the methods of
// DirectFileHandle (file.ts delegates to these; none of them imports file.ts).
export { readFileFromHandle, writeFileToHandle } from './whole-file'
export type { ReadFileOptions, WriteFileOptions } from './whole-file'
export { readAt } from './read-at'
export type { ReadAtOptions } from './read-at'
export { createReadStreamFromHandle, createWriteStreamToHandle, readableWebStreamFromHandle } from './streams'
export type { DirectReadStream, DirectWriteStream, ReadStreamOptions, WriteStreamOptions } from './streams'
export { allocate, lock, punchHole, unlock } from './space'
export type { AllocateOptions, LockOptions, PunchHoleOptions } from './space'
export { allocFor, allocForHandle, blockOf, chunkSizeFor } from './io-util'
export { Appender } from './append'
export { bounceRead, bounceVector, bounceWrite } from './bounce'
export { alignDown, alignUp } from '../aligned'
