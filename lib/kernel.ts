// Kernel detection: what this kernel and this process can do, found by
// trying, cached, and never throwing. Also per-device facts the scheduler
// needs (nr_requests, max_sectors_kb) and O_DIRECT alignment.
import * as fs from 'node:fs'
import * as os from 'node:os'
import { binding, UringProbe } from './binding'
import { threadpoolSize } from './backends/threadpool'
import type { BackendName } from './backends/backend'

const FEATURE_NAMES = [
  'SINGLE_MMAP', 'NODROP', 'SUBMIT_STABLE', 'RW_CUR_POS', 'CUR_PERSONALITY', 'FAST_POLL',
  'POLL_32BITS', 'SQPOLL_NONFIXED', 'EXT_ARG', 'NATIVE_WORKERS', 'RSRC_TAGS', 'CQE_SKIP',
  'LINKED_FILE', 'REG_REG_RING', 'RECVSEND_BUNDLE', 'MIN_TIMEOUT', 'RW_ATTR', 'NO_IOWAIT',
]

const OPCODE_NAMES = [
  'NOP', 'READV', 'WRITEV', 'FSYNC', 'READ_FIXED', 'WRITE_FIXED', 'POLL_ADD', 'POLL_REMOVE',
  'SYNC_FILE_RANGE', 'SENDMSG', 'RECVMSG', 'TIMEOUT', 'TIMEOUT_REMOVE', 'ACCEPT', 'ASYNC_CANCEL',
  'LINK_TIMEOUT', 'CONNECT', 'FALLOCATE', 'OPENAT', 'CLOSE', 'FILES_UPDATE', 'STATX', 'READ',
  'WRITE', 'FADVISE', 'MADVISE', 'SEND', 'RECV', 'OPENAT2', 'EPOLL_CTL', 'SPLICE',
  'PROVIDE_BUFFERS', 'REMOVE_BUFFERS', 'TEE', 'SHUTDOWN', 'RENAMEAT', 'UNLINKAT', 'MKDIRAT',
  'SYMLINKAT', 'LINKAT', 'MSG_RING', 'FSETXATTR', 'SETXATTR', 'FGETXATTR', 'GETXATTR', 'SOCKET',
  'URING_CMD', 'SEND_ZC', 'SENDMSG_ZC', 'READ_MULTISHOT', 'WAITID', 'FUTEX_WAIT', 'FUTEX_WAKE',
  'FUTEX_WAITV', 'FIXED_FD_INSTALL', 'FTRUNCATE', 'BIND', 'LISTEN', 'RECV_ZC', 'EPOLL_WAIT',
  'READV_FIXED', 'WRITEV_FIXED', 'PIPE',
]

/** What this kernel and process can do, as found by trying. */
export interface Capabilities {
  /** `uname -r` and its parsed version. */
  kernel: { release: string; version: [number, number, number] }
  /** io_uring: whether a ring can be set up here, why not, and what the kernel offers. */
  ioUring: {
    available: boolean
    reason: string | null
    disabledSysctl: 0 | 1 | 2 | null
    features: string[]
    featureBits: number
    opcodes: Array<{ op: number; name: string }>
    cancelFlags: { all: boolean; fd: boolean; any: boolean; fdFixed: boolean; userdata: boolean; op: boolean }
    syncCancel: boolean
  }
  /** Native AIO (io_setup): availability, refusal reason, fs.aio-max-nr and fs.aio-nr. */
  libaio: { available: boolean; reason: string | null; maxEvents: number | null; inUse: number | null }
  /** The libuv thread-pool fallback and its size (UV_THREADPOOL_SIZE). */
  threadpool: { available: true; size: number }
  /** What `backend: 'auto'` picks now (after DIRECT_AIO_BACKEND). */
  backend: BackendName
  /** Why `auto` chose it. */
  backendReason: string
  /** Whether the kernel can cancel I/O already in the block layer. False on every mainline kernel. */
  blockLayerCancel: boolean
}

function readNumber(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim())
    return Number.isFinite(n) ? n : null
  } catch {
    return null
  }
}

function errnoName(errno: number): string {
  try {
    return require('node:util').getSystemErrorName(errno)
  } catch {
    return `errno ${errno}`
  }
}

export function uringRefusal(errno: number, syscall: string, sysctl: number | null): string {
  const name = errnoName(errno)
  if (errno === -1 /* EPERM */) {
    if (sysctl === 2) return `EPERM from ${syscall}: kernel.io_uring_disabled=2`
    if (sysctl === 1) return `EPERM from ${syscall}: kernel.io_uring_disabled=1 and this process is not in io_uring_group`
    return `EPERM from ${syscall}: blocked by seccomp or kernel.io_uring_disabled=2`
  }
  if (errno === -38 /* ENOSYS */) return `ENOSYS from ${syscall}: the kernel was built without io_uring (or a sandbox such as gVisor hides it)`
  if (errno === -12 /* ENOMEM */) return `ENOMEM from ${syscall}: locked-memory limit (ulimit -l) too low for the ring`
  return `${name} from ${syscall}`
}

export function aioRefusal(errno: number, syscall: string): string {
  const name = errnoName(errno)
  if (errno === -11 /* EAGAIN */) return `EAGAIN from ${syscall}: fs.aio-max-nr is exhausted (raise /proc/sys/fs/aio-max-nr)`
  if (errno === -1) return `EPERM from ${syscall}: blocked by seccomp`
  if (errno === -38) return `ENOSYS from ${syscall}: the kernel was built without AIO support`
  return `${name} from ${syscall}`
}

let cachedUring: UringProbe | null = null
function uringProbe(): UringProbe {
  if (!cachedUring) {
    try {
      cachedUring = binding.probeUring()
    } catch (e) {
      cachedUring = { ok: false, errno: -22, syscall: String((e as Error).message) }
    }
  }
  return cachedUring
}

// The ring size IoContext uses by default: probing with it (not with 1) means
// an aio-max-nr too small for a real context shows up here as a refusal.
const AIO_PROBE_ENTRIES = 256
let cachedAio: { ok: boolean; errno?: number; syscall?: string } | null = null
function aioProbe(): { ok: boolean; errno?: number; syscall?: string } {
  if (!cachedAio) {
    try {
      cachedAio = binding.probeAio(AIO_PROBE_ENTRIES)
    } catch (e) {
      cachedAio = { ok: false, errno: -22, syscall: String((e as Error).message) }
    }
  }
  return cachedAio
}

export const BACKEND_NAMES: readonly BackendName[] = ['io_uring', 'libaio', 'threadpool']

/**
 * The backend DIRECT_AIO_BACKEND names, or null when it is unset, empty,
 * 'auto' or not a backend name (see invalidBackendOverride: IoContext
 * refuses to guess what the operator meant).
 */
export function backendOverride(): BackendName | null {
  const v = process.env.DIRECT_AIO_BACKEND
  if (v === 'io_uring' || v === 'libaio' || v === 'threadpool') return v
  return null
}

/** The raw DIRECT_AIO_BACKEND value if it is set to something that is not a backend name (nor 'auto'). */
export function invalidBackendOverride(): string | null {
  const v = process.env.DIRECT_AIO_BACKEND
  if (v === undefined || v === '' || v === 'auto' || (BACKEND_NAMES as readonly string[]).includes(v)) return null
  return v
}

/**
 * Report what the kernel offers: io_uring features, opcodes and cancel flags,
 * native AIO, the thread pool, and what `auto` picks. The kernel probes are
 * cached per thread (pass `{ refresh: true }` to probe again); the
 * environment (DIRECT_AIO_BACKEND, UV_THREADPOOL_SIZE) is read on every
 * call. Never throws.
 */
export function capabilities(options?: { refresh?: boolean }): Capabilities {
  if (options?.refresh) {
    cachedUring = null
    cachedAio = null
  }
  const release = os.release()
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release)
  const version: [number, number, number] = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0]
  const rawSysctl = readNumber('/proc/sys/kernel/io_uring_disabled')
  const sysctl = rawSysctl === 0 || rawSysctl === 1 || rawSysctl === 2 ? rawSysctl : null
  const u = uringProbe()
  const bits = u.ok ? (u.features ?? 0) : 0
  const features = FEATURE_NAMES.filter((_, i) => bits & (1 << i))
  for (let i = FEATURE_NAMES.length; i < 32; i++) if (bits & (1 << i)) features.push(`BIT_${i}`)
  const opcodes = (u.ok ? (u.opcodes ?? []) : []).map((op) => ({ op, name: OPCODE_NAMES[op] ?? `OP_${op}` }))
  const cf = (u.ok && u.cancelFlags) || { all: false, fd: false, any: false, fdFixed: false, userdata: false, op: false }

  const aio = aioProbe()
  const maxEvents = readNumber('/proc/sys/fs/aio-max-nr')
  const inUse = readNumber('/proc/sys/fs/aio-nr')

  const uringReason = u.ok ? null : uringRefusal(u.errno ?? -38, u.syscall ?? 'io_uring_setup', sysctl)
  const aioReason = aio.ok ? null : aioRefusal(aio.errno ?? -38, aio.syscall ?? 'io_setup')

  let backend: BackendName
  let backendReason: string
  const override = backendOverride()
  const invalid = invalidBackendOverride()
  if (override) {
    backend = override
    const refusal = override === 'io_uring' ? uringReason : override === 'libaio' ? aioReason : null
    backendReason = refusal
      ? `DIRECT_AIO_BACKEND=${override}, but it is unavailable (${refusal}): new IoContext() will throw`
      : `DIRECT_AIO_BACKEND=${override}`
  } else if (u.ok) {
    backend = 'io_uring'
    backendReason = 'io_uring is available'
  } else if (aio.ok) {
    backend = 'libaio'
    backendReason = `io_uring refused (${uringReason}); libaio is available`
  } else {
    backend = 'threadpool'
    backendReason = `io_uring refused (${uringReason}); libaio refused (${aioReason})`
  }
  if (invalid !== null) {
    backendReason = `DIRECT_AIO_BACKEND='${invalid}' is not a backend name: new IoContext() will throw`
  }

  return {
    kernel: { release, version },
    ioUring: {
      available: u.ok,
      reason: uringReason,
      disabledSysctl: sysctl,
      features,
      featureBits: bits,
      opcodes,
      cancelFlags: { all: !!cf.all, fd: !!cf.fd, any: !!cf.any, fdFixed: !!cf.fdFixed, userdata: !!cf.userdata, op: !!cf.op },
      syncCancel: u.ok ? (u.syncCancel ?? false) : false,
    },
    libaio: { available: aio.ok, reason: aioReason, maxEvents, inUse },
    threadpool: { available: true, size: threadpoolSize() },
    backend,
    backendReason,
    // No mainline kernel cancels bios that reached the block layer. Only a
    // measurement (direct-aio doctor --probe-cancel) could say otherwise,
    // and nothing it measures is persisted.
    blockLayerCancel: false,
  }
}

/** major/minor from a Linux dev_t as Node reports it. */
export function devParts(dev: number): [number, number] {
  const hi = Math.floor(dev / 0x100000000)
  const lo = dev >>> 0
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0)
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00)
  return [major, minor]
}

/** Facts about the block device behind a dev_t, for the scheduler. */
export interface DeviceInfo {
  key: string
  nrRequests: number | null
  maxSectorsKb: number | null
  logicalBlockSize: number | null
}

function queueDir(major: number, minor: number): string | null {
  const base = `/sys/dev/block/${major}:${minor}`
  try {
    if (fs.existsSync(`${base}/queue`)) return `${base}/queue`
    if (fs.existsSync(`${base}/partition`)) return `${base}/../queue`
  } catch {
    // no sysfs
  }
  return null
}

export function deviceInfo(dev: number): DeviceInfo {
  const [major, minor] = devParts(dev)
  const q = queueDir(major, minor)
  return {
    key: `${major}:${minor}`,
    nrRequests: q ? readNumber(`${q}/nr_requests`) : null,
    maxSectorsKb: q ? readNumber(`${q}/max_sectors_kb`) : null,
    logicalBlockSize: q ? readNumber(`${q}/logical_block_size`) : null,
  }
}

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
