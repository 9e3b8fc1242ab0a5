// 'auto' | 'io_uring' | 'libaio' | 'threadpool' -> a Backend. Auto falls
// back io_uring -> libaio -> threadpool and remembers each refusal; a backend
// asked for by name never falls back silently.
import { Backend, BackendEvents, BackendName } from './backend'
import { NativeBackend } from './native'
import { ThreadpoolBackend } from './threadpool'
import { aioRefusal, backendOverride, invalidBackendOverride, uringRefusal } from '../kernel'
import { backendUnavailable } from '../errors'
import * as fs from 'node:fs'

export type BackendChoice = 'auto' | BackendName

export interface Selected {
  backend: Backend
  /** Why each backend tried before the chosen one was refused. */
  refusals: Partial<Record<BackendName, string>>
}

function sysctl(): number | null {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim())
  } catch {
    return null
  }
}

function tryNative(name: 'io_uring' | 'libaio', entries: number, events: BackendEvents): Backend | string {
  try {
    return new NativeBackend(name, entries, events)
  } catch (e) {
    const err = e as { errno?: number; syscall?: string; message: string }
    if (typeof err.errno !== 'number') return err.message
    return name === 'io_uring' ? uringRefusal(err.errno, err.syscall ?? 'io_uring_setup', sysctl()) : aioRefusal(err.errno, err.syscall ?? 'io_setup')
  }
}

export function selectBackend(choice: BackendChoice, entries: number, events: BackendEvents): Selected {
  const refusals: Partial<Record<BackendName, string>> = {}
  if (choice === 'auto') {
    // An operator's override that names no backend is a typo, not a wish for
    // 'auto': say so instead of quietly running on something else.
    const invalid = invalidBackendOverride()
    if (invalid !== null) throw backendUnavailable(`'${invalid}'`, "DIRECT_AIO_BACKEND must be one of 'auto', 'io_uring', 'libaio', 'threadpool' (or unset)")
  }
  const wanted: BackendChoice = choice === 'auto' ? (backendOverride() ?? 'auto') : choice
  if (wanted !== 'auto') {
    if (wanted === 'threadpool') return { backend: new ThreadpoolBackend(events), refusals }
    const b = tryNative(wanted, entries, events)
    if (typeof b === 'string') {
      const why = choice === 'auto' ? `${b} (requested by DIRECT_AIO_BACKEND=${wanted})` : b
      throw backendUnavailable(wanted, why)
    }
    return { backend: b, refusals }
  }
  for (const name of ['io_uring', 'libaio'] as const) {
    const b = tryNative(name, entries, events)
    if (typeof b !== 'string') return { backend: b, refusals }
    refusals[name] = b
  }
  return { backend: new ThreadpoolBackend(events), refusals }
}
