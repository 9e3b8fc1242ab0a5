// What this kernel and this process can do, found by trying, cached, and
// never throwing. The `auto` pick comes from the backend registry, the same
// list and probes new IoContext() uses.
import * as os from 'node:os'
import { threadpoolSize } from '../config'
import { ENOSYS } from '../sys-constants'
import { aioProbe, aioRefusal, resetProbes, uringProbe, uringRefusal, uringSysctl } from '../backends/native-entries'
import { autoPick, backendNames, findBackend } from '../backends/registry'
import type { BackendName } from '../backends/registry'
import { readNumber } from './device'
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
  /** Every backend in the order `auto` tries them, and why each is refused here (null: available). */
  backends: Array<{ name: BackendName; available: boolean; reason: string | null }>
}

/**
 * Report what the kernel offers: io_uring features, opcodes and cancel flags,
 * native AIO, the thread pool, and what `auto` picks. The kernel probes are
 * cached per thread (pass `{ refresh: true }` to probe again); the
 * environment (DIRECT_AIO_BACKEND, UV_THREADPOOL_SIZE) is read on every
 * call. Never throws.
 */
export function capabilities(options?: { refresh?: boolean }): Capabilities {
  if (options?.refresh) resetProbes()
  const release = os.release()
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release)
  const version: [number, number, number] = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0]
  const sysctl = uringSysctl()
  const u = uringProbe()
  const bits = u.ok ? (u.features ?? 0) : 0
  const features = FEATURE_NAMES.filter((_, i) => bits & (1 << i))
  for (let i = FEATURE_NAMES.length; i < 32; i++) if (bits & (1 << i)) features.push(`BIT_${i}`)
  const opcodes = (u.ok ? (u.opcodes ?? []) : []).map((op) => ({ op, name: OPCODE_NAMES[op] ?? `OP_${op}` }))
  const cf = (u.ok && u.cancelFlags) || { all: false, fd: false, any: false, fdFixed: false, userdata: false, op: false }

  const aio = aioProbe()
  const maxEvents = readNumber('/proc/sys/fs/aio-max-nr')
  const inUse = readNumber('/proc/sys/fs/aio-nr')

  const uringReason = u.ok ? null : uringRefusal(u.errno ?? ENOSYS, u.syscall ?? 'io_uring_setup', sysctl)
  const aioReason = aio.ok ? null : aioRefusal(aio.errno ?? ENOSYS, aio.syscall ?? 'io_setup')

  const pick = autoPick()
  const backends = backendNames().map((name) => {
    const reason = findBackend(name)!.probe()
    return { name, available: reason === null, reason }
  })

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
    backend: pick.backend,
    backendReason: pick.reason,
    // No mainline kernel cancels bios that reached the block layer. Only a
    // measurement (direct-aio doctor --probe-cancel) could say otherwise,
    // and nothing it measures is persisted.
    blockLayerCancel: false,
    backends,
  }
}

