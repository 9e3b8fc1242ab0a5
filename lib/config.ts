// Environment variables, parsed in one place. Each is read when asked for
// (tests and operators change them between contexts), never cached, except
// DIRECT_AIO_ABORT_STACKS, read once at load.

/** The names DIRECT_AIO_BACKEND may hold besides a backend name. */
const AUTO_VALUES = new Set(['', 'auto'])

/**
 * DIRECT_AIO_BACKEND: `null` when unset, empty or 'auto'; otherwise the raw
 * value (which the backend registry checks against its names).
 */
export function backendEnv(): string | null {
  const v = process.env.DIRECT_AIO_BACKEND
  if (v === undefined || AUTO_VALUES.has(v)) return null
  return v
}

export type KernelCancel = 'auto' | 'trust' | 'never'

/** DIRECT_AIO_KERNEL_CANCEL as a kernel-cancel policy; anything else means 'auto'. */
export function kernelCancelEnv(): KernelCancel {
  const v = process.env.DIRECT_AIO_KERNEL_CANCEL
  return v === 'trust' || v === 'never' ? v : 'auto'
}

/** UV_THREADPOOL_SIZE as libuv reads it: a positive integer up to 1024, default 4. */
export function threadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE)
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4
}

/** DIRECT_AIO_ABORT_STACKS=1 at load: AbortErrors carry the stack of the call that made the request. Parsed once. */
const ABORT_STACKS = process.env.DIRECT_AIO_ABORT_STACKS === '1'

/** The default of IoContext's `abortStacks` option. */
export function abortStacksEnv(): boolean {
  return ABORT_STACKS
}
