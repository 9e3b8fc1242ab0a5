// io_uring and libaio as the registry sees them: a cached probe that says
// why the kernel refuses (if it does), and the Ring behind a NativeBackend.
// This module loads the native addon; the registry loads it only when a
// native backend is probed or created.
import * as fs from 'node:fs'
import { getSystemErrorName } from 'node:util'
import { binding, UringProbe } from '../binding'
import { EAGAIN, EINVAL, ENOMEM, ENOSYS, EPERM } from '../sys-constants'
import type { Backend, BackendEvents } from './backend'
import { NativeBackend } from './native'

export type NativeName = 'io_uring' | 'libaio'

/** kernel.io_uring_disabled (0, 1, 2), or null when there is no such sysctl. */
export function uringSysctl(): 0 | 1 | 2 | null {
  try {
    const n = Number(fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim())
    return n === 0 || n === 1 || n === 2 ? n : null
  } catch {
    return null
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(errno)
  } catch {
    return `errno ${errno}`
  }
}

export function uringRefusal(errno: number, syscall: string, sysctl: number | null): string {
  const name = errnoName(errno)
  if (errno === EPERM) {
    if (sysctl === 2) return `EPERM from ${syscall}: kernel.io_uring_disabled=2`
    if (sysctl === 1) return `EPERM from ${syscall}: kernel.io_uring_disabled=1 and this process is not in io_uring_group`
    return `EPERM from ${syscall}: blocked by seccomp or kernel.io_uring_disabled=2`
  }
  if (errno === ENOSYS) return `ENOSYS from ${syscall}: the kernel was built without io_uring (or a sandbox such as gVisor hides it)`
  if (errno === ENOMEM) return `ENOMEM from ${syscall}: locked-memory limit (ulimit -l) too low for the ring`
  return `${name} from ${syscall}`
}

export function aioRefusal(errno: number, syscall: string): string {
  const name = errnoName(errno)
  if (errno === EAGAIN) return `EAGAIN from ${syscall}: fs.aio-max-nr is exhausted (raise /proc/sys/fs/aio-max-nr)`
  if (errno === EPERM) return `EPERM from ${syscall}: blocked by seccomp`
  if (errno === ENOSYS) return `ENOSYS from ${syscall}: the kernel was built without AIO support`
  return `${name} from ${syscall}`
}

let cachedUring: UringProbe | null = null
/** What io_uring_setup and IORING_REGISTER_PROBE said (cached until resetProbes()). */
export function uringProbe(): UringProbe {
  if (!cachedUring) {
    try {
      cachedUring = binding.probeUring()
    } catch (e) {
      cachedUring = { ok: false, errno: EINVAL, syscall: String((e as Error).message) }
    }
  }
  return cachedUring
}

// The ring size IoContext uses by default: probing with it (not with 1) means
// an aio-max-nr too small for a real context shows up here as a refusal.
const AIO_PROBE_ENTRIES = 256
let cachedAio: { ok: boolean; errno?: number; syscall?: string } | null = null
/** What io_setup said (cached until resetProbes()). */
export function aioProbe(): { ok: boolean; errno?: number; syscall?: string } {
  if (!cachedAio) {
    try {
      cachedAio = binding.probeAio(AIO_PROBE_ENTRIES)
    } catch (e) {
      cachedAio = { ok: false, errno: EINVAL, syscall: String((e as Error).message) }
    }
  }
  return cachedAio
}

export function resetProbes(): void {
  cachedUring = null
  cachedAio = null
}

/** Why the kernel refuses `name` here, or null if it does not. */
export function nativeRefusal(name: NativeName): string | null {
  if (name === 'io_uring') {
    const u = uringProbe()
    return u.ok ? null : uringRefusal(u.errno ?? ENOSYS, u.syscall ?? 'io_uring_setup', uringSysctl())
  }
  const a = aioProbe()
  return a.ok ? null : aioRefusal(a.errno ?? ENOSYS, a.syscall ?? 'io_setup')
}

/** A NativeBackend, or why the kernel refused to set up its ring. */
export function createNative(name: NativeName, entries: number, events: BackendEvents): Backend | string {
  try {
    return new NativeBackend(name, entries, events)
  } catch (e) {
    const err = e as { errno?: number; syscall?: string; message: string }
    if (typeof err.errno !== 'number') return err.message
    return name === 'io_uring' ? uringRefusal(err.errno, err.syscall ?? 'io_uring_setup', uringSysctl()) : aioRefusal(err.errno, err.syscall ?? 'io_setup')
  }
}
