// Model-checked fuzzing on every available backend (see test/fixtures/fuzz-core.js
// for what is checked). FUZZ_SEED=<n> replays a seed; FUZZ_OPS=<n> changes the
// number of operations per backend (default 20,000). Long runs: npm run fuzz.
import t from 'tap'
import * as fs from 'node:fs'
import * as api from '../lib/index'
import { scratchDir } from './helpers/tmp'
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runFuzz } = require('./fixtures/fuzz-core.js') as {
  runFuzz(o: Record<string, unknown>): Promise<{
    ops: number
    mismatches: number
    details: unknown[]
    stages: Record<string, number>
    counts: Record<string, number>
    verifyReads: number
    liveOpsAfter: number | null
    hung: boolean
    ms: number
    kernelCancels: unknown[]
  }>
}

const OPS = Number(process.env.FUZZ_OPS) || 20000
const SEED = (process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32)) >>> 0

const caps = api.capabilities()
const unavailable: Record<string, string | null> = Object.fromEntries(caps.backends.map((b) => [b.name, b.reason]))

t.comment(`fuzz seed ${SEED}: replay with FUZZ_SEED=${SEED}; ${OPS} operations per backend`)

const dir = scratchDir()
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))

for (const { name: backend } of caps.backends) {
  const skip = unavailable[backend] ? `${backend} unavailable: ${unavailable[backend]}` : false
  t.test(`model-checked fuzz: ${backend}`, { skip }, async (t) => {
    const r = await runFuzz({ api, backend, ops: OPS, seed: SEED, dir })
    t.comment(`${backend}: ${r.ops} ops in ${(r.ms / 1000).toFixed(1)} s, ${r.mismatches} mismatches, seed ${SEED}`)
    t.comment(`${backend}: abort stages ${JSON.stringify(r.stages)}, verify reads ${r.verifyReads}, kernel cancels ${JSON.stringify(r.kernelCancels)}`)
    t.comment(`${backend}: ${JSON.stringify(r.counts)}`)
    t.notOk(r.hung, 'no operation hung')
    t.equal(r.ops, OPS, 'every generated operation ran')
    t.equal(r.mismatches, 0, `no mismatches (FUZZ_SEED=${SEED})`)
    t.same(r.details, [], 'mismatch details')
    t.equal(r.liveOpsAfter, 0, 'no native operation left alive')
    // Every abort mode and every operation kind was exercised.
    for (const k of ['read', 'write', 'readv', 'writev', 'sync', 'truncate', 'reopen', 'group']) t.ok(r.counts[k] > 0, `${k} exercised`)
    for (const k of ['pre', 'sync', 'immediate', 'timeout', 'shared', 'after']) t.ok(r.counts[`abort:${k}`] > 0, `abort ${k} exercised`)
    t.ok(r.stages.queued > 0 && r.stages.issued > 0, 'aborts landed both before and after issue')
  })
}
