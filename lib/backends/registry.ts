// Every backend, in the order `auto` tries them: ONE list. BackendName,
// `backend:` validation, DIRECT_AIO_BACKEND, the `auto` pick of both
// capabilities() and new IoContext(), doctor and the test matrices all read
// it. A backend is an entry here plus the file that implements it.
//
// The native addon is loaded only when a native backend is probed or
// created (hence the require() calls inside the entries), so the registry
// and the scheduler load without it (test/unit/).
import { backendEnv } from '../config'
import { backendUnavailable } from '../errors'
import type { Backend, BackendEvents, BackendTraits } from './backend'
import { fullDeviceQueue } from './backend'

export interface BackendEntry extends BackendTraits {
  readonly name: string
  /** Why this backend cannot run here, or null if it can. Cheap after the first call (cached). */
  probe(): string | null
  /** Create one, or say why the kernel refused. */
  create(entries: number, events: BackendEvents): Backend | string
}

const native = () => require('./native-entries') as typeof import('./native-entries')
const threadpool = () => require('./threadpool') as typeof import('./threadpool')

const BUILTIN = [
  {
    name: 'io_uring',
    probe: () => native().nativeRefusal('io_uring'),
    create: (entries: number, events: BackendEvents) => native().createNative('io_uring', entries, events),
    deviceCap: fullDeviceQueue,
    capsExplicitDepth: false,
    adaptiveDepth: true,
    inlineUnlessDirect: false,
    waitsForPeers: true,
    pool: false,
  },
  {
    name: 'libaio',
    probe: () => native().nativeRefusal('libaio'),
    create: (entries: number, events: BackendEvents) => native().createNative('libaio', entries, events),
    // io_submit blocks the event loop when the device queue is full: stay
    // well below nr_requests, even for an explicit maxInFlight.
    deviceCap: (capacity: number, nr: number | null) => (nr ? Math.min(capacity, Math.max(1, Math.floor(nr / 2))) : capacity),
    capsExplicitDepth: true,
    adaptiveDepth: true,
    // Buffered I/O and character devices are done inside io_submit: they
    // would block the event loop (an empty FIFO, indefinitely).
    inlineUnlessDirect: true,
    waitsForPeers: false,
    pool: false,
  },
  {
    name: 'threadpool',
    probe: () => null,
    create: (_entries: number, events: BackendEvents) => new (threadpool().ThreadpoolBackend)(events),
    deviceCap: fullDeviceQueue,
    capsExplicitDepth: false,
    // Nothing in the pool can be cancelled, and the pool is small: fixed depth.
    adaptiveDepth: false,
    inlineUnlessDirect: false,
    waitsForPeers: false,
    pool: true,
  },
] as const satisfies readonly BackendEntry[]

/** A backend's name: `'io_uring'`, `'libaio'` or `'threadpool'`. */
export type BackendName = (typeof BUILTIN)[number]['name']
export type BackendChoice = 'auto' | BackendName

const entries: BackendEntry[] = [...BUILTIN]

/**
 * Add a backend (tests, experiments). It goes before `options.before` in the
 * `auto` order, or last. Returns the function that removes it again.
 */
export function registerBackend(entry: BackendEntry, options: { before?: string } = {}): () => void {
  if (findBackend(entry.name)) throw new Error(`backend '${entry.name}' is already registered`)
  const i = options.before === undefined ? -1 : entries.findIndex((e) => e.name === options.before)
  if (i < 0) entries.push(entry)
  else entries.splice(i, 0, entry)
  return () => {
    const j = entries.indexOf(entry)
    if (j >= 0) entries.splice(j, 1)
  }
}

/** Every backend name, in `auto` order. */
export function backendNames(): BackendName[] {
  return entries.map((e) => e.name as BackendName)
}

export function findBackend(name: unknown): BackendEntry | undefined {
  return entries.find((e) => e.name === name)
}

/** The backend a context routes files to that its own backend would do inline (the thread pool). */
export function poolBackend(): BackendEntry {
  const e = entries.find((x) => x.pool)
  if (!e) throw new Error('no backend is registered as the pool')
  return e
}

/** `'auto', 'io_uring', ...` for messages. */
export function choicesText(): string {
  return ['auto', ...entries.map((e) => e.name)].map((n) => `'${n}'`).join(', ')
}

/** DIRECT_AIO_BACKEND when it is set to something that is not a backend name (nor 'auto'). */
export function invalidBackendEnv(): string | null {
  const v = backendEnv()
  return v !== null && !findBackend(v) ? v : null
}

/** The backend DIRECT_AIO_BACKEND names, or null (unset, 'auto' or invalid). */
export function backendOverride(): BackendName | null {
  const v = backendEnv()
  return v !== null && findBackend(v) ? (v as BackendName) : null
}

export interface AutoPick {
  backend: BackendName
  reason: string
  refusals: Partial<Record<BackendName, string>>
}

/** What `backend: 'auto'` picks now, by probing (what capabilities() reports). */
export function autoPick(): AutoPick {
  const refusals: Partial<Record<BackendName, string>> = {}
  const override = backendOverride()
  const invalid = invalidBackendEnv()
  let pick: AutoPick | null = null
  if (override) {
    const refusal = findBackend(override)!.probe()
    const reason = refusal ? `DIRECT_AIO_BACKEND=${override}, but it is unavailable (${refusal}): new IoContext() will throw` : `DIRECT_AIO_BACKEND=${override}`
    pick = { backend: override, reason, refusals }
  } else {
    const parts: string[] = []
    for (const [i, e] of entries.entries()) {
      const refusal = e.probe()
      if (refusal === null) {
        if (i < entries.length - 1 || parts.length === 0) parts.push(`${e.name} is available`)
        pick = { backend: e.name as BackendName, reason: parts.join('; '), refusals }
        break
      }
      refusals[e.name as BackendName] = refusal
      parts.push(`${e.name} refused (${refusal})`)
    }
    if (!pick) pick = { backend: entries[entries.length - 1].name as BackendName, reason: parts.join('; '), refusals }
  }
  if (invalid !== null) pick.reason = `DIRECT_AIO_BACKEND='${invalid}' is not a backend name: new IoContext() will throw`
  return pick
}

export interface Selected {
  backend: Backend
  entry: BackendEntry
  /** Why each backend tried before the chosen one was refused. */
  refusals: Partial<Record<BackendName, string>>
}

/**
 * A backend for `choice`. `auto` follows DIRECT_AIO_BACKEND if set, else
 * tries every entry in order and remembers each refusal; a backend asked for
 * by name never falls back silently.
 */
export function selectBackend(choice: string, ringEntries: number, events: BackendEvents): Selected {
  const refusals: Partial<Record<BackendName, string>> = {}
  if (choice === 'auto') {
    // An operator's override that names no backend is a typo, not a wish for
    // 'auto': say so instead of quietly running on something else.
    const invalid = invalidBackendEnv()
    if (invalid !== null) throw backendUnavailable(`'${invalid}'`, `DIRECT_AIO_BACKEND must be one of ${choicesText()} (or unset)`)
  }
  const wanted = choice === 'auto' ? (backendOverride() ?? 'auto') : choice
  if (wanted !== 'auto') {
    const entry = findBackend(wanted)!
    const b = entry.create(ringEntries, events)
    if (typeof b === 'string') throw backendUnavailable(wanted, choice === 'auto' ? `${b} (requested by DIRECT_AIO_BACKEND=${wanted})` : b)
    return { backend: b, entry, refusals }
  }
  let last = ''
  for (const entry of entries) {
    const b = entry.create(ringEntries, events)
    if (typeof b !== 'string') return { backend: b, entry, refusals }
    refusals[entry.name as BackendName] = b
    last = b
  }
  throw backendUnavailable('auto', `every backend was refused (${last})`)
}
