// Two worker threads doing O_DIRECT I/O at the same time, each with its own
// IoContext (the addon is context-aware: per-thread rings and pollers). Both
// verify their data, and both threads exit on their own.
import t from 'tap'
import type { Test } from 'tap'
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { availableBackends, backendRefusal, ALL_BACKENDS, scratch } from './helpers/backends'

const FIXTURE = path.join(__dirname, 'fixtures', 'worker-io.js')
const DIST = path.join(__dirname, '..', 'dist', 'index.js')
const REGION = 2 * 1024 * 1024

interface Done {
  type: 'done'
  threadId: number
  mismatches: number
  ops: number
  rounds: number
  start: number
  end: number
  sha256: string
  completed: number
  failed: number
}

interface Outcome {
  ready: { backend: string } | null
  done: Done | null
  errors: string[]
  exitCode: number | null
}

/** Start a worker; resolves when it has said 'ready', with a promise for its whole outcome. */
function startWorker(workerData: Record<string, unknown>): Promise<{ worker: Worker; outcome: Promise<Outcome> }> {
  return new Promise((resolveReady, rejectReady) => {
    // No execArgv: the fixture is plain JS, and tap's TypeScript/coverage import hooks
    // would add about a second to every worker's start.
    const worker = new Worker(FIXTURE, { workerData, execArgv: [] })
    const o: Outcome = { ready: null, done: null, errors: [], exitCode: null }
    const outcome = new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        o.errors.push('timed out after 30 s (worker did not exit on its own)')
        void worker.terminate()
      }, 30_000)
      worker.on('message', (m: { type: string; backend?: string; message?: string }) => {
        if (m.type === 'ready') {
          o.ready = { backend: m.backend as string }
          resolveReady({ worker, outcome })
        } else if (m.type === 'done') o.done = m as unknown as Done
        else if (m.type === 'error') o.errors.push(m.message as string)
      })
      worker.on('error', (e) => {
        o.errors.push(String(e.stack ?? e))
        rejectReady(e)
      })
      worker.on('exit', (code) => {
        clearTimeout(timer)
        o.exitCode = code
        if (!o.ready) rejectReady(new Error(`worker exited (${code}) before ready: ${o.errors.join('; ')}`))
        resolve(o)
      })
    })
  })
}

function regionHash(p: string, start: number): string {
  const fd = fs.openSync(p, 'r')
  try {
    const b = Buffer.alloc(REGION)
    fs.readSync(fd, b, 0, REGION, start)
    return crypto.createHash('sha256').update(b).digest('hex')
  } finally {
    fs.closeSync(fd)
  }
}

async function twoWorkers(t: Test, extra: Record<string, unknown>, expectBackend: string | null): Promise<void> {
  const dir = scratch(t)
  const p = path.join(dir, 'shared.bin')
  fs.writeFileSync(p, Buffer.alloc(2 * REGION)) // real zeros, not a hole
  const cfg = { path: p, size: REGION, minRounds: 8, minMs: 300, ...extra }
  const [a, b] = await Promise.all([startWorker({ ...cfg, start: 0 }), startWorker({ ...cfg, start: REGION })])
  for (const w of [a, b]) w.worker.postMessage('go')
  const [oa, ob] = await Promise.all([a.outcome, b.outcome])
  for (const [name, o, start] of [['A', oa, 0], ['B', ob, REGION]] as const) {
    t.same(o.errors, [], `worker ${name}: no errors`)
    t.equal(o.exitCode, 0, `worker ${name}: exited on its own with code 0`)
    if (expectBackend) t.equal(o.ready?.backend, expectBackend, `worker ${name}: context backend ${expectBackend}`)
    t.ok(o.done, `worker ${name}: reported`)
    if (!o.done) continue
    t.equal(o.done.mismatches, 0, `worker ${name}: every read matched (${o.done.ops} ops, ${o.done.rounds} rounds)`)
    t.equal(o.done.failed, 0, `worker ${name}: no failed requests`)
    t.equal(o.done.completed, o.done.ops + 1, `worker ${name}: its context completed exactly its own requests`)
    t.equal(regionHash(p, start), o.done.sha256, `worker ${name}: the file region holds what it wrote`)
  }
  if (oa.done && ob.done) {
    t.not(oa.done.threadId, ob.done.threadId)
    t.ok(oa.done.start < ob.done.end && ob.done.start < oa.done.end, 'the two workers did I/O at the same time')
  }
}

const distMissing = fs.existsSync(DIST) ? false : `dist/ is not built (${DIST}); run npm run build`

t.test('two workers, each with its own IoContext', { skip: distMissing }, async (t) => {
  for (const backend of ALL_BACKENDS) {
    const refusal = backendRefusal(backend)
    t.test(`[${backend}]`, { skip: refusal && `${backend} unavailable: ${refusal}` }, (t) => twoWorkers(t, { backend }, backend))
  }
  t.ok(availableBackends().length >= 1)
})

t.test('two workers on their default contexts, never closed, still exit', { skip: distMissing }, async (t) => {
  await twoWorkers(t, { defaultContext: true }, null)
})
