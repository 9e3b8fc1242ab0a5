// The one TypeScript source of the numbers shared with the kernel and the
// native core: operation kinds and the errnos the queue reacts to. Errnos
// come from Node (os.constants.errno), negated the way io_uring and libaio
// report them.
import { constants } from 'node:os'

/** Operation kinds, as the native core numbers them (src/ring.h `OpKind`). */
export const OP_READ = 0
export const OP_WRITE = 1
export const OP_FSYNC = 2
export const OP_FDATASYNC = 3

/** Whether an operation kind moves bytes (read/write) rather than being a barrier (fsync/fdatasync). */
export function movesBytes(kind: number): boolean {
  return kind === OP_READ || kind === OP_WRITE
}

const e = constants.errno

/** Negative errnos, as completions carry them. */
export const EPERM = -e.EPERM
export const ENOENT = -e.ENOENT
export const EIO = -e.EIO
export const EBADF = -e.EBADF
export const EAGAIN = -e.EAGAIN
export const ENOMEM = -e.ENOMEM
export const EINVAL = -e.EINVAL
export const EACCES = -e.EACCES
export const ENOSYS = -e.ENOSYS
export const EALREADY = -e.EALREADY
export const ECANCELED = -e.ECANCELED
