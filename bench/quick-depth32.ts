// Quick comparison: 4 KiB random O_DIRECT reads at depth 32 on a 1 GiB file
// of random data, direct-aio (the thread's default context) against
// fs.promises FileHandle.read on the same file opened with O_DIRECT.
// Runs are interleaved (3 rounds x ~3 s each per contender) so drift in the
// disk or the VM affects both alike.
//
//   npx tsx bench/quick-depth32.ts [--rounds 3] [--seconds 3] [--file PATH] [--keep] [--fixed]
//
// --fixed adds a third contender: an IoContext with maxInFlight 32 (no
// adaptive depth), to show what the default context's depth controller costs.
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import { allocAligned, IoContext, open } from '../lib/index'

const BLOCK = 4096
const DEPTH = 32
const SIZE = 1024 * 1024 * 1024

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def
}
const ROUNDS = Number(arg('rounds', '3'))
const SECONDS = Number(arg('seconds', '3'))
const FILE = arg('file', process.env.DIRECT_AIO_BENCH_FILE ?? '/var/tmp/direct-aio-bench-1g.bin')
const KEEP = process.argv.includes('--keep')
const FIXED = process.argv.includes('--fixed')

/** A 1 GiB file of random bytes, fully allocated (no holes), reused if already there. */
function ensureFile(): boolean {
  try {
    const st = fs.statSync(FILE)
    if (st.size === SIZE && st.blocks * 512 >= SIZE) return false
  } catch {
    // create it
  }
  const t0 = performance.now()
  const fd = fs.openSync(FILE, 'w')
  const chunk = Buffer.allocUnsafe(16 * 1024 * 1024)
  for (let off = 0; off < SIZE; off += chunk.length) {
    crypto.randomFillSync(chunk)
    fs.writeSync(fd, chunk, 0, chunk.length, off)
  }
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  const st = fs.statSync(FILE)
  if (st.blocks * 512 < SIZE) throw new Error(`${FILE} is sparse (${st.blocks} blocks)`)
  console.log(`created ${FILE} (1 GiB random) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return true
}

type ReadFn = (buf: Buffer, pos: number) => Promise<number>

interface Result {
  iops: number
  cpuUsPerIo: number
  ops: number
}

/** DEPTH concurrent loops of 4 KiB reads at random aligned offsets for `ms`. */
async function run(read: ReadFn, ms: number): Promise<Result> {
  const blocks = SIZE / BLOCK
  let ops = 0
  let short = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const deadline = t0 + ms
  const loops = Array.from({ length: DEPTH }, async (_, k) => {
    const buf = allocAligned(BLOCK)
    let x = (crypto.randomInt(1, 2 ** 31) ^ (k * 0x9e3779b9)) >>> 0 || 1
    while (performance.now() < deadline) {
      x ^= x << 13
      x >>>= 0
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      const n = await read(buf, (x % blocks) * BLOCK)
      if (n !== BLOCK) short++
      ops++
    }
  })
  await Promise.all(loops)
  const secs = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  if (short) throw new Error(`${short} short reads`)
  return { iops: ops / secs, cpuUsPerIo: (cpu.user + cpu.system) / ops, ops }
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main(): Promise<void> {
  const created = ensureFile()

  const da = await open(FILE, 'r') // the thread's default context
  const fixedCtx = FIXED ? new IoContext({ maxInFlight: DEPTH }) : null
  const daFixed = fixedCtx ? await open(FILE, 'r', { context: fixedCtx }) : null
  const fh = await fsp.open(FILE, fs.constants.O_RDONLY | fs.constants.O_DIRECT)

  const contenders: Array<[string, ReadFn]> = [
    [`direct-aio (${da.context.backend}, default context)`, (b, p) => da.read(b, 0, BLOCK, p).then((r) => r.bytesRead)],
    ['fs.promises FileHandle.read (O_DIRECT)', (b, p) => fh.read(b, 0, BLOCK, p).then((r) => r.bytesRead)],
  ]
  if (daFixed) contenders.push([`direct-aio (${daFixed.context.backend}, maxInFlight ${DEPTH})`, (b, p) => daFixed.read(b, 0, BLOCK, p).then((r) => r.bytesRead)])

  console.log(`node ${process.version}, ${process.env.UV_THREADPOOL_SIZE ?? 4} libuv threads, depth ${DEPTH}, 4 KiB random reads, ${ROUNDS} rounds x ${SECONDS} s, file ${FILE}`)
  for (const [, fn] of contenders) await run(fn, 500) // warm-up

  const results = new Map<string, Result[]>(contenders.map(([n]) => [n, []]))
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order each round.
    const order = r % 2 === 0 ? contenders : contenders.slice().reverse()
    for (const [name, fn] of order) {
      const res = await run(fn, SECONDS * 1000)
      results.get(name)!.push(res)
      console.log(`round ${r + 1}  ${name.padEnd(44)} ${Math.round(res.iops).toString().padStart(7)} IOPS  ${res.cpuUsPerIo.toFixed(1).padStart(5)} us CPU/IO`)
    }
  }
  const s = da.context.stats()
  console.log(`default context: depth limits ${JSON.stringify(s.depth.limits)}, peak ${s.depth.peak}, p50 ${s.latency.p50.toFixed(3)} ms, p99 ${s.latency.p99.toFixed(3)} ms`)

  console.log('\nmedians:')
  const summary: Record<string, { iops: number; cpuUsPerIo: number; rounds: number[] }> = {}
  for (const [name, rs] of results) {
    const iops = median(rs.map((x) => x.iops))
    const cpu = median(rs.map((x) => x.cpuUsPerIo))
    summary[name] = { iops: Math.round(iops), cpuUsPerIo: Number(cpu.toFixed(1)), rounds: rs.map((x) => Math.round(x.iops)) }
    console.log(`  ${name.padEnd(44)} ${Math.round(iops).toString().padStart(7)} IOPS  ${cpu.toFixed(1).padStart(5)} us CPU/IO`)
  }
  const [a, b] = contenders.map(([n]) => summary[n].iops)
  console.log(`  direct-aio / fs.promises = ${(a / b).toFixed(2)}`)
  console.log(JSON.stringify({ depth: DEPTH, block: BLOCK, fileBytes: SIZE, roundSeconds: SECONDS, summary }))

  await fh.close()
  await da.close()
  if (daFixed) await daFixed.close()
  if (fixedCtx) await fixedCtx.close()
  if (!KEEP && created) fs.unlinkSync(FILE)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
