// The backend matrix for tests: which backends this machine can run, and a
// helper that runs one test body once per backend, each with its own
// IoContext, plus scratch files that are removed when the test ends.
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { Test } from 'tap'
import { IoContext } from '../../lib/index'
import type { BackendName, IoContextOptions } from '../../lib/index'
import { backendNames } from '../../lib/backends/registry'
import { scratchDir } from './tmp'

/** Every backend in the registry, in `auto` order. */
export const ALL_BACKENDS: readonly BackendName[] = backendNames()

let cache: { available: BackendName[]; refused: Partial<Record<BackendName, string>> } | null = null

function probe() {
  if (cache) return cache
  const available: BackendName[] = []
  const refused: Partial<Record<BackendName, string>> = {}
  for (const backend of ALL_BACKENDS) {
    try {
      const ctx = new IoContext({ backend })
      available.push(backend)
      // Nothing was queued, so close() settles at once; the ring is released synchronously after.
      void ctx.close()
    } catch (e) {
      refused[backend] = (e as Error).message
    }
  }
  cache = { available, refused }
  return cache
}

/** The backends an IoContext can be created with here, in matrix order. */
export function availableBackends(): BackendName[] {
  return probe().available.slice()
}

/** Why a backend could not be created here (undefined if it can). */
export function backendRefusal(backend: BackendName): string | undefined {
  return probe().refused[backend]
}

export type MatrixBody = (t: Test, ctx: IoContext, backend: BackendName) => Promise<void> | void

/**
 * Run `fn` as one subtest per backend ("name [io_uring]", ...). Each subtest
 * gets a fresh IoContext for that backend (options merged with `ctxOptions`),
 * closed at teardown. Backends that cannot be created here are reported as
 * skipped subtests with the kernel's reason.
 */
export function forEachBackend(t: Test, name: string, fn: MatrixBody, ctxOptions: Omit<IoContextOptions, 'backend'> = {}): void {
  for (const backend of ALL_BACKENDS) {
    const refusal = backendRefusal(backend)
    const title = `${name} [${backend}]`
    if (refusal !== undefined) {
      t.test(title, { skip: `${backend} backend unavailable: ${refusal}` }, () => {})
      continue
    }
    t.test(title, async (t) => {
      const ctx = new IoContext({ ...ctxOptions, backend })
      t.teardown(() => ctx.close())
      t.equal(ctx.backend, backend, `context runs on ${backend}`)
      await fn(t, ctx, backend)
    })
  }
}

/** A fresh O_DIRECT-capable directory, removed when `t` ends. */
export function scratch(t: Test): string {
  const dir = scratchDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Create `dir/name` holding `size` random bytes (written with buffered I/O); returns path and content. */
export function randomFile(dir: string, name: string, size: number): { path: string; data: Buffer } {
  const data = crypto.randomBytes(size)
  const p = path.join(dir, name)
  fs.writeFileSync(p, data)
  return { path: p, data }
}

/**
 * A small seeded PRNG (mulberry32), so a failing run can be replayed: tests
 * print their seed, and DIRECT_AIO_TEST_SEED reuses it.
 */
export function rng(t: Test): { seed: number; int(n: number): number; fill(b: Uint8Array): void } {
  const env = Number(process.env.DIRECT_AIO_TEST_SEED)
  const seed = Number.isInteger(env) && env > 0 ? env : crypto.randomInt(1, 2 ** 31)
  t.comment(`seed ${seed} (DIRECT_AIO_TEST_SEED=${seed} to replay)`)
  let s = seed >>> 0
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = s
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return (x ^ (x >>> 14)) >>> 0
  }
  return {
    seed,
    int: (n: number) => next() % n,
    fill: (b: Uint8Array) => {
      let i = 0
      for (; i + 4 <= b.length; i += 4) {
        const v = next()
        b[i] = v
        b[i + 1] = v >>> 8
        b[i + 2] = v >>> 16
        b[i + 3] = v >>> 24
      }
      for (; i < b.length; i++) b[i] = next()
    },
  }
}

/** Byte-for-byte comparison that reports the first differing offset instead of dumping buffers. */
export function sameBytes(t: Test, actual: ArrayBufferView, expected: ArrayBufferView, msg: string): boolean {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)
  if (a.length === e.length && a.equals(e)) return t.pass(msg)
  let i = 0
  while (i < a.length && i < e.length && a[i] === e[i]) i++
  return t.fail(msg, { lengths: [a.length, e.length], firstDifference: i, actual: a.subarray(i, i + 16).toString('hex'), expected: e.subarray(i, i + 16).toString('hex') })
}
