// Thin helpers around cli/tools/congest.ts for the cancellation tests: skip
// reasons, the backends this machine offers, and running the scenario child
// (test/fixtures/cancel-child.js) inside the throttled cgroup or plainly.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { IoContext } from '../../lib/index'
import { CongestedDevice, CongestOptions, congestUnsupported } from '../../cli/tools/congest'
import { backendNames } from '../../lib/backends/registry'
import type { BackendName } from '../../lib/backends/registry'

export { CongestedDevice, congestUnsupported }

export const CHILD = path.join(__dirname, '..', 'fixtures', 'cancel-child.js')
const DIST = path.join(__dirname, '..', '..', 'dist', 'index.js')

export type { BackendName }
export const ALL_BACKENDS: BackendName[] = backendNames()

/** Why the congested-device tests cannot run here, or false. */
export function congestSkip(): string | false {
  const why = congestUnsupported()
  if (why) return `congested-device tests skipped: ${why}`
  if (!fs.existsSync(DIST)) return 'congested-device tests skipped: dist/ is not built (npx tsc -p tsconfig.json)'
  return false
}

/** Backends that can be created here, and why the others cannot. */
export async function probeBackends(): Promise<{ available: BackendName[]; refused: Record<string, string> }> {
  const available: BackendName[] = []
  const refused: Record<string, string> = {}
  for (const backend of ALL_BACKENDS) {
    try {
      const ctx = new IoContext({ backend, entries: 8 })
      await ctx.close()
      available.push(backend)
    } catch (e) {
      refused[backend] = (e as Error).message
    }
  }
  return { available, refused }
}

/** Create a device and make sure it is destroyed when the test ends, pass or fail. */
export function makeDevice(t: { teardown(fn: () => unknown): void }, options: CongestOptions): CongestedDevice {
  const dev = CongestedDevice.create({ fill: 'zero', ...options })
  t.teardown(() => dev.destroy())
  return dev
}

function parse(code: number | null, signal: string | null, stdout: string, stderr: string, cfg: object): any {
  if (code !== 0) {
    throw new Error(`child ${JSON.stringify(cfg).slice(0, 300)} exited with ${code ?? signal}:\n${stderr.slice(0, 4000)}\nstdout: ${stdout.slice(0, 500)}`)
  }
  return JSON.parse(stdout)
}

/** Run the scenario child inside the device's throttled cgroup; returns its report. */
export async function runInCgroup(dev: CongestedDevice, cfg: Record<string, unknown>, nodeArgs: string[] = []): Promise<any> {
  const r = await dev.run(CHILD, [JSON.stringify(cfg)], { timeoutMs: 60000, nodeArgs })
  return parse(r.code, r.signal, r.stdout, r.stderr, cfg)
}

/** Run the scenario child as a plain child process (no cgroup, no root needed). */
export function runPlain(cfg: Record<string, unknown>, nodeArgs: string[] = [], timeoutMs = 120000): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      try {
        resolve(parse(code, signal, stdout, stderr, cfg))
      } catch (e) {
        reject(e)
      }
    })
  })
}

export interface Outcome {
  pos: number
  ok: boolean
  stage?: 'queued' | 'kernel' | 'issued'
  bytes?: number
  name?: string
  code?: string
  ranges?: Array<[number, number]>
}

/** Counts by outcome: ok, queued, kernel, issued, or error:<code>. */
export function tally(results: Outcome[]): Record<string, number> {
  const o: Record<string, number> = { ok: 0, queued: 0, kernel: 0, issued: 0 }
  for (const r of results) {
    const k = r.ok ? 'ok' : r.stage ?? `error:${r.code}`
    o[k] = (o[k] ?? 0) + 1
  }
  return o
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const s = values.slice().sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]
}

/** Stages a backend can report: the thread pool has no kernel cancel. */
export function expectedStages(backend: BackendName): Set<string> {
  return new Set(backend === 'threadpool' ? ['queued', 'issued'] : ['queued', 'kernel', 'issued'])
}

/** Major:minor of the block device under a path (for throttling a loop device's backing disk). */
export function backingDevice(file: string): string | null {
  const st = fs.statSync(file)
  const major = Math.floor(st.dev / 256) & 0xfff
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00)
  // Partitions throttle on the whole disk; find it through sysfs.
  try {
    const link = fs.realpathSync(`/sys/dev/block/${major}:${minor}`)
    const part = fs.existsSync(path.join(link, 'partition'))
    const disk = part ? path.dirname(link) : link
    return fs.readFileSync(path.join(disk, 'dev'), 'utf8').trim()
  } catch {
    return null
  }
}

