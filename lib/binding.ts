// The one place that loads the native addon (node-gyp-build picks a prebuild
// from prebuilds/ or a local build/ from source).
import * as path from 'node:path'

/**
 * A completion batch arrives as (id, res) pairs in `batch`; a cancel result is reported with id `-(target + 1)`.
 * `submit()` returns the number accepted, or a negative errno while requests stay staged (EAGAIN, EBUSY, ...:
 * call it again later; -EBADF once closed).
 */
export interface NativeRing {
  prep(id: number, kind: number, fd: number, position: number, view: ArrayBufferView, byteOffset: number, byteLength: number): number
  prep(id: number, kind: number, fd: number, position: number, views: ArrayBufferView[]): number
  prep(id: number, kind: number, fd: number, position: number): number
  cancel(id: number): number
  submit(): number
  close(): void
  stats(): { pending: number; liveOps: number; liveRings: number }
}

export interface NativeRingConstructor {
  new (backend: 'io_uring' | 'libaio', entries: number, batch: Float64Array, onBatch: (n: number) => void): NativeRing
}

export interface UringProbe {
  ok: boolean
  errno?: number
  syscall?: string
  features?: number
  opcodes?: number[]
  cancelFlags?: Record<'userdata' | 'all' | 'fd' | 'fdFixed' | 'op' | 'any', boolean>
  syncCancel?: boolean
}

export interface NativeBinding {
  Ring: NativeRingConstructor
  probeUring(): UringProbe
  probeAio(entries: number): { ok: boolean; errno?: number; syscall?: string }
  dioAlign(fd: number): { memory: number; offset: number; logicalBlockSize: number; source: string }
  addressOf(buffer: ArrayBufferLike | ArrayBufferView): number
  nativeStats(): { liveOps: number; liveRings: number }
  /** Library-owned aligned memory (src/aligned_alloc.cc); absent from older builds. A negative errno on failure (-1: external buffers refused). */
  alignedAlloc?(size: number, alignment: number, zero: boolean): ArrayBuffer | number
  alignedHold?(views: ArrayBufferView[]): number
  alignedRelease?(token: number): void
  alignedStats?(): { live: number; held: number; deferred: number; freed: number }
}

function load(): NativeBinding {
  if (process.platform !== 'linux') {
    throw new Error(`direct-aio supports only Linux (io_uring, libaio and O_DIRECT), not ${process.platform}.`)
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding
  return nodeGypBuild(path.join(__dirname, '..'))
}

export const binding: NativeBinding = load()
