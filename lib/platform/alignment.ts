// O_DIRECT alignment: statx STATX_DIOALIGN, else the logical block size of
// the device.
import * as fs from 'node:fs'
import { binding } from '../binding'
import { deviceInfo } from './device'

/** O_DIRECT alignment of an open file: statx STATX_DIOALIGN, else the device's logical block size. */
export function alignmentOfFd(fd: number, dev: number): { memory: number; offset: number } {
  const a = binding.dioAlign(fd)
  if (a.offset > 0) return { memory: a.memory || a.offset, offset: a.offset }
  const lbs = deviceInfo(dev).logicalBlockSize ?? 512
  return { memory: lbs, offset: lbs }
}

/**
 * The O_DIRECT memory and offset alignment for a path (statx STATX_DIOALIGN,
 * falling back to the logical block size of its device).
 */
export function alignment(path: string): { memory: number; offset: number } {
  let fd = -1
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY)
    const st = fs.fstatSync(fd)
    return alignmentOfFd(fd, st.isBlockDevice() ? st.rdev : st.dev)
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}
