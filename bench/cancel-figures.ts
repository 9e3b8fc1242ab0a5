// Figures for issue 3's closing note (root):
//  1. the 400-read abort on a loop device throttled to 50 IOPS: device reads,
//     stages and abort-to-settle p50/p99, for maxInFlight 'auto' and 400
//     (entries 512, so the ring holds all of them: kernel cancel only), on
//     every backend;
//  2. on the unthrottled disk: 4 KiB random O_DIRECT reads of a 1 GiB file
//     with 128 outstanding, 'auto' against a fixed depth of 128, rounds
//     interleaved; the depth 'auto' settles on and the IOPS ratio.
//
//   npx tsx bench/cancel-figures.ts [--rounds N] [--seconds S] [--dir DIR] [--skip-abort] [--skip-depth] [--child PATH]
//
// The abort runs use test/fixtures/cancel-child.js (or --child), which loads
// dist/: run `npm run build` first. Part 2 runs the checked-out lib/ in this
// process.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { IoContext, allocAligned, open } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'

const ROOT = path.join(__dirname, '..')
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def
}
const CHILD = path.resolve(arg('--child', path.join(ROOT, 'test', 'fixtures', 'cancel-child.js')))
const MiB = 1024 * 1024
const BLOCK = 4096

const ROUNDS = Number(arg('--rounds', '3'))
const SECONDS = Number(arg('--seconds', '4'))
const DIR = arg('--dir', '/var/tmp')

function pct(values: number[], p: number): number {
  const s = values.slice().sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))] : NaN
}
const median = (v: number[]): number => pct(v, 0.5)

function distStale(): string | null {
  const newest = (dir: string, ext: string): number => {
    let m = 0
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) m = Math.max(m, newest(p, ext))
      else if (e.name.endsWith(ext)) m = Math.max(m, fs.statSync(p).mtimeMs)
    }
    return m
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) return 'dist/ is missing: run npm run build'
  return newest(path.join(ROOT, 'lib'), '.ts') > newest(path.join(ROOT, 'dist'), '.js') + 1000 ? 'dist/ is older than lib/: run npm run build' : null
}

interface AbortFigure {
  backend: string
  maxInFlight: number | 'auto'
  deviceReads: number
  issuedBeforeAbort: number
  stages: Record<string, number>
  settleP50: number
  settleP99: number
  settleMax: number
  queuedSettleMax: number
  kernelCancels: Record<string, number>
  peakDepth: number
}

async function abortFigures(): Promise<AbortFigure[]> {
  const why = congestUnsupported()
  if (why) {
    console.log(`abort figures skipped: ${why}`)
    return []
  }
  const stale = distStale()
  if (stale) console.log(`warning: ${stale}`)
  const dev = CongestedDevice.create({ sizeMiB: 512, readIops: 50, writeIops: 50, fill: 'zero' })
  const out: AbortFigure[] = []
  try {
    for (const backend of ['io_uring', 'libaio', 'threadpool']) {
      try {
        await new IoContext({ backend: backend as 'io_uring', entries: 8 }).close()
      } catch (e) {
        console.log(`${backend}: not available (${(e as Error).message})`)
        continue
      }
      for (const maxInFlight of ['auto', 400] as const) {
        const before = await dev.settle(200)
        const cfg = { mode: 'massAbort', backend, maxInFlight, entries: 512, kernelCancel: 'auto', n: 400, op: 'read', path: dev.loop, deviceSize: dev.sizeBytes, abortAfterMs: 300, lateStatsMs: 300 }
        const r = await dev.run(CHILD, [JSON.stringify(cfg)], { timeoutMs: 60000 })
        const after = await dev.settle(400)
        if (r.code !== 0) {
          console.log(`${backend} maxInFlight ${maxInFlight}: child failed (${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
          continue
        }
        const o = JSON.parse(r.stdout)
        const stages: Record<string, number> = { ok: 0, queued: 0, kernel: 0, issued: 0 }
        const queuedSettle: number[] = []
        o.results.forEach((x: { ok: boolean; stage?: string }, i: number) => {
          const k = x.ok ? 'ok' : x.stage ?? 'error'
          stages[k] = (stages[k] ?? 0) + 1
          if (k === 'queued') queuedSettle.push(o.settleMs[i])
        })
        const settle = (o.settleMs as number[]).filter((v) => v >= 0)
        out.push({
          backend,
          maxInFlight,
          deviceReads: after.readsCompleted - before.readsCompleted,
          issuedBeforeAbort: o.issuedBeforeAbort,
          stages,
          settleP50: pct(settle, 0.5),
          settleP99: pct(settle, 0.99),
          settleMax: Math.max(...settle),
          queuedSettleMax: queuedSettle.length ? Math.max(...queuedSettle) : NaN,
          kernelCancels: o.statsLate.kernelCancels,
          peakDepth: o.statsBefore.depth.peak,
        })
        const f = out[out.length - 1]
        console.log(
          `${backend.padEnd(10)} maxInFlight ${String(maxInFlight).padEnd(4)}  device reads ${String(f.deviceReads).padStart(3)} / 400` +
            `  (sent before abort ${f.issuedBeforeAbort}, peak depth ${f.peakDepth})  stages ${JSON.stringify(f.stages)}` +
            `  settle p50 ${f.settleP50.toFixed(1)} ms p99 ${f.settleP99.toFixed(1)} ms max ${f.settleMax.toFixed(1)} ms` +
            `  kernel cancels ${JSON.stringify(f.kernelCancels)}`,
        )
      }
    }
  } finally {
    dev.destroy()
  }
  return out
}

async function ensureFile(file: string, size: number): Promise<void> {
  try {
    if (fs.statSync(file).size === size) return
  } catch {
    // create it
  }
  const fd = fs.openSync(file, 'w')
  const chunk = Buffer.alloc(8 * MiB)
  for (let pos = 0; pos < size; pos += chunk.length) {
    for (let off = 0; off < chunk.length; off += BLOCK) chunk.writeUInt32LE((pos + off) / BLOCK, off)
    fs.writeSync(fd, chunk, 0, chunk.length, pos)
  }
  fs.fsyncSync(fd)
  fs.closeSync(fd)
}

interface DepthRun {
  mode: 'auto' | 'fixed128'
  iops: number
  steadyIops: number
  depthLimit: number
  peak: number
  limitTrace: number[]
}

// 4 KiB random reads, the application keeping 128 outstanding.
async function depthRun(file: string, size: number, mode: 'auto' | 'fixed128', seconds: number): Promise<DepthRun> {
  const ctx = new IoContext({ maxInFlight: mode === 'auto' ? 'auto' : 128, entries: 256, kernelCancel: 'auto' })
  const f = await open(file, 'r', { context: ctx })
  const blocks = size / BLOCK
  let seed = (Math.random() * 0xffffffff) >>> 0 || 1
  const rand = (): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % blocks
  }
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  const steadyFrom = t0 + 1000
  let done = 0
  let steadyDone = 0
  const trace: number[] = []
  const limitOf = (): number => Object.values(ctx.stats().depth.limits)[0] ?? 0
  const sampler = setInterval(() => trace.push(limitOf()), 250)
  const worker = async (): Promise<void> => {
    const b = allocAligned(BLOCK)
    while (performance.now() < end) {
      await f.read(b, 0, BLOCK, rand() * BLOCK)
      done++
      if (performance.now() >= steadyFrom) steadyDone++
    }
  }
  await Promise.all(Array.from({ length: 128 }, worker))
  clearInterval(sampler)
  const elapsed = (performance.now() - t0) / 1000
  const s = ctx.stats()
  const depthLimit = limitOf()
  await f.close()
  await ctx.close()
  return { mode, iops: done / elapsed, steadyIops: steadyDone / (elapsed - 1), depthLimit, peak: s.depth.peak, limitTrace: trace }
}

async function depthFigures(): Promise<void> {
  const file = path.join(DIR, 'direct-aio-cancel-figures-1g.bin')
  const size = 1024 * MiB
  console.log(`\n4 KiB random O_DIRECT reads of a 1 GiB file in ${DIR}, 128 outstanding, ${SECONDS} s per run, ${ROUNDS} interleaved rounds`)
  await ensureFile(file, size)
  try {
    const runs: DepthRun[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const order: Array<'auto' | 'fixed128'> = round % 2 === 0 ? ['auto', 'fixed128'] : ['fixed128', 'auto']
      for (const mode of order) {
        const r = await depthRun(file, size, mode, SECONDS)
        runs.push(r)
        console.log(
          `round ${round + 1} ${mode.padEnd(8)} ${Math.round(r.iops).toString().padStart(6)} IOPS (after the first second ${Math.round(r.steadyIops)})` +
            `  peak in-kernel ${r.peak}${mode === 'auto' ? `  depth limit over time ${r.limitTrace.join(' ')}` : ''}`,
        )
      }
    }
    const auto = runs.filter((r) => r.mode === 'auto')
    const fixed = runs.filter((r) => r.mode === 'fixed128')
    const ratios = auto.map((a, i) => a.iops / fixed[i].iops)
    const steadyRatios = auto.map((a, i) => a.steadyIops / fixed[i].steadyIops)
    console.log(
      `\n'auto' / fixed 128: median ratio ${median(ratios).toFixed(3)} (rounds ${ratios.map((x) => x.toFixed(3)).join(', ')}); ` +
        `after the first second ${median(steadyRatios).toFixed(3)}; median IOPS auto ${Math.round(median(auto.map((r) => r.iops)))}, fixed ${Math.round(median(fixed.map((r) => r.iops)))}; ` +
        `'auto' depth limits at the end ${auto.map((r) => r.limitTrace[r.limitTrace.length - 1]).join(', ')}, peaks ${auto.map((r) => r.peak).join(', ')}`,
    )
  } finally {
    if (!process.argv.includes('--keep-file')) fs.rmSync(file, { force: true })
  }
}

async function main(): Promise<void> {
  if (!process.argv.includes('--skip-abort')) {
    console.log('400 reads on a loop device throttled to 50 IOPS, all aborted after 300 ms')
    await abortFigures()
  }
  if (!process.argv.includes('--skip-depth')) await depthFigures()
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
