// AbortError stacks (lib/sched/cancel.ts, lib/config.ts): stackless by
// default (a mass abort stays cheap); with IoContext({ abortStacks: true }) or
// DIRECT_AIO_ABORT_STACKS=1 (read once at load) they show the call that made
// the request. Real files, every backend.
import t from 'tap'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import { AbortError, allocAligned, IoContext, open } from '../lib/index'
import type { BackendName } from '../lib/index'
import { availableBackends, randomFile, scratch } from './helpers/backends'

/** Queue several reads, abort them all while still queued (one in flight keeps the rest waiting), return the errors. */
async function abortQueued(ctx: IoContext, p: string): Promise<AbortError[]> {
  const fh = await open(p, 'r', { context: ctx })
  try {
    const ac = new AbortController()
    const reads = Array.from({ length: 8 }, () => fh.read(allocAligned(4096), { position: 0, signal: ac.signal }).then(() => null, (e: unknown) => e))
    ac.abort()
    const out = await Promise.all(reads)
    return out.filter((e): e is AbortError => e instanceof AbortError)
  } finally {
    await fh.close()
  }
}

function frames(stack: string | undefined): string[] {
  return (stack ?? '').split('\n').filter((l) => /^\s+at /.test(l))
}

for (const backend of availableBackends() as BackendName[]) {
  t.test(`abort stacks [${backend}]`, async (t) => {
    const dir = scratch(t)
    const { path: p } = randomFile(dir, 'f', 4096)
    const plain = new IoContext({ backend, maxInFlight: 1 })
    const errs = await abortQueued(plain, p)
    await plain.close()
    t.ok(errs.length > 0, `${errs.length} AbortErrors`)
    t.same(frames(errs[0].stack), [], 'default: no stack frames')
    const withStacks = new IoContext({ backend, maxInFlight: 1, abortStacks: true })
    const errs2 = await abortQueued(withStacks, p)
    await withStacks.close()
    t.ok(errs2.length > 0, `${errs2.length} AbortErrors with abortStacks`)
    const f = frames(errs2[0].stack)
    t.ok(f.length > 0, `abortStacks: ${f.length} frames`)
    t.ok(f.some((l) => l.includes('abort-stacks.test')), 'the stack shows the test call that made the request', { stack: errs2[0].stack })
    t.match(errs2[0].stack, /^AbortError: The operation was aborted/, 'the stack starts with name and message')
    t.throws(() => new IoContext({ backend, abortStacks: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' }, 'abortStacks: "yes"')
  })
}

t.test('DIRECT_AIO_ABORT_STACKS=1 turns stacks on for every context', async (t) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'g', 4096)
  const dist = path.resolve(__dirname, '..', 'dist', 'index.js')
  const script = `
    const { open, allocAligned, IoContext } = require(${JSON.stringify(dist)})
    ;(async () => {
      const ctx = new IoContext({ maxInFlight: 1 })
      const fh = await open(${JSON.stringify(p)}, 'r', { context: ctx })
      const ac = new AbortController()
      const rs = Array.from({ length: 4 }, () => fh.read(allocAligned(4096), { position: 0, signal: ac.signal }).catch((e) => e))
      ac.abort()
      const errs = (await Promise.all(rs)).filter((e) => e && e.name === 'AbortError')
      console.log(JSON.stringify(errs.map((e) => (e.stack || '').split('\\n').filter((l) => /^\\s+at /.test(l)).length)))
      await fh.close(); await ctx.close()
    })()`
  for (const [env, on] of [['1', true], ['', false]] as const) {
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, DIRECT_AIO_ABORT_STACKS: env }, encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 0, `child exits 0 (${r.stderr})`)
    const counts = JSON.parse(r.stdout.trim() || '[]') as number[]
    t.ok(counts.length > 0, `DIRECT_AIO_ABORT_STACKS=${env}: ${counts.length} aborts`)
    t.equal(counts.some((n) => n > 0), on, `DIRECT_AIO_ABORT_STACKS=${env || '(empty)'}: stacks ${on ? 'on' : 'off'}`)
  }
})
