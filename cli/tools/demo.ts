// `direct-aio demo`: write a scratch file with O_DIRECT, read it back at
// several queue depths, then queue a few hundred reads and abort them, and
// show where each abort landed, how many reads the device still did, the
// bytes saved and how long settling took. As root the abort part runs on a
// loop device throttled to 50 IOPS (the child runs inside the blkio cgroup);
// otherwise on the scratch file. Everything it creates is removed.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { allocAligned, IoContext, open } from 'direct-aio'
import { abortChild, plainAbort, throttledAbort } from './demo-abort'
import { BLOCK, FILE_SIZE, MiB, now, pad } from './format'

const DEPTHS = [1, 8, 32, 128]
const DEPTH_MS = 700

// ---------------------------------------------------------------------------
// Scratch directory: DIRECT_AIO_DEMO_DIR, else the OS temp dir; /var/tmp if
// that refuses O_DIRECT (tmpfs).

async function acceptsDirect(dir: string): Promise<string | null> {
  const probe = path.join(dir, `.direct-aio-probe-${process.pid}`)
  try {
    const f = await open(probe, 'w+', { context: new IoContext({ entries: 4 }) })
    await f.close()
    await f.context.close()
    return null
  } catch (e) {
    return (e as Error).message
  } finally {
    fs.rmSync(probe, { force: true })
  }
}

async function pickDir(log: (s: string) => void): Promise<string> {
  const wanted = process.env.DIRECT_AIO_DEMO_DIR || os.tmpdir()
  const source = process.env.DIRECT_AIO_DEMO_DIR ? 'DIRECT_AIO_DEMO_DIR' : 'the OS temp dir'
  const why = await acceptsDirect(wanted)
  if (why === null) return wanted
  log(`${wanted} (${source}) refuses O_DIRECT (${why.split(' (')[0]}); using /var/tmp instead`)
  const why2 = await acceptsDirect('/var/tmp')
  if (why2 === null) return '/var/tmp'
  throw new Error(`neither ${wanted} nor /var/tmp accepts O_DIRECT; set DIRECT_AIO_DEMO_DIR to a disk-backed directory`)
}

// ---------------------------------------------------------------------------
// Part 1: write, then random 4 KiB reads at fixed depths.

async function writeScratch(file: string): Promise<number> {
  const ctx = new IoContext()
  const f = await open(file, 'w+', { context: ctx })
  const t0 = now()
  try {
    const chunk = 1 * MiB
    const bufs = [allocAligned(chunk), allocAligned(chunk), allocAligned(chunk), allocAligned(chunk)]
    for (let pos = 0; pos < FILE_SIZE; pos += chunk * bufs.length) {
      const ps: Array<Promise<unknown>> = []
      bufs.forEach((b, i) => {
        const at = pos + i * chunk
        for (let off = 0; off < chunk; off += BLOCK) b.writeUInt32LE((at + off) / BLOCK, off)
        ps.push(f.write(b, 0, chunk, at))
      })
      await Promise.all(ps)
    }
    await f.datasync()
  } finally {
    await f.close()
    await ctx.close()
  }
  return now() - t0
}

interface DepthResult {
  depth: number
  iops: number
  mbps: number
  p50: number
  checked: number
  bad: number
}

async function readAtDepth(file: string, depth: number): Promise<DepthResult> {
  const ctx = new IoContext({ maxInFlight: depth, entries: Math.max(depth, 8) })
  const f = await open(file, 'r', { context: ctx })
  const blocks = FILE_SIZE / BLOCK
  let done = 0
  let bad = 0
  let seed = 0x9e3779b9 ^ depth
  const rand = (): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % blocks
  }
  const end = now() + DEPTH_MS
  const t0 = now()
  const worker = async (): Promise<void> => {
    const b = allocAligned(BLOCK)
    while (now() < end) {
      const blk = rand()
      await f.read(b, 0, BLOCK, blk * BLOCK)
      if (b.readUInt32LE(0) !== blk) bad++
      done++
    }
  }
  await Promise.all(Array.from({ length: depth }, worker))
  const secs = (now() - t0) / 1000
  const lat = ctx.stats().latency.p50
  await f.close()
  await ctx.close()
  return { depth, iops: done / secs, mbps: (done * BLOCK) / secs / 1e6, p50: lat, checked: done, bad }
}

// ---------------------------------------------------------------------------

export async function demo(argv: string[]): Promise<number> {
  if (argv[0] === '--child') return abortChild(argv[1])
  if (argv.length > 0 && argv[0] !== '') {
    process.stderr.write('usage: direct-aio demo\n(set DIRECT_AIO_DEMO_DIR to choose where the scratch file goes)\n')
    return argv[0] === '-h' || argv[0] === '--help' ? 0 : 1
  }
  // If stdout goes away (`| head`), keep going quietly so cleanup still runs.
  let quiet = false
  const onStdoutError = (): void => {
    quiet = true
  }
  process.stdout.on('error', onStdoutError)
  const log = (s: string): void => {
    if (!quiet) process.stdout.write(s + '\n')
  }
  const cleanups: Array<() => void> = []
  const cleanup = (): void => {
    while (cleanups.length) {
      try {
        cleanups.pop()!()
      } catch {
        // best effort
      }
    }
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup()
    process.kill(process.pid, sig)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const t0 = now()
  try {
    const probe = new IoContext({ entries: 4 })
    const backend = probe.backend
    await probe.close()
    log(`direct-aio demo (Linux ${os.release()}, backend ${backend})`)
    log('')
    const base = await pickDir(log)
    const dir = fs.mkdtempSync(path.join(base, 'direct-aio-demo-'))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'scratch.bin')
    const writeMs = await writeScratch(file)
    log(`Wrote ${file} (${FILE_SIZE / MiB} MiB) with O_DIRECT in ${(writeMs / 1000).toFixed(2)} s (${(FILE_SIZE / 1e6 / (writeMs / 1000)).toFixed(0)} MB/s).`)
    log('')
    log(`Random 4 KiB O_DIRECT reads of it, ${DEPTH_MS} ms at each queue depth (every block checked):`)
    log(`${pad('depth', 6)}${pad('IOPS', 10)}${pad('MB/s', 9)}${pad('p50 ms', 9)}`)
    let bad = 0
    for (const depth of DEPTHS) {
      const r = await readAtDepth(file, depth)
      bad += r.bad
      log(`${pad(depth, 6)}${pad(Math.round(r.iops).toLocaleString('en-US'), 10)}${pad(r.mbps.toFixed(1), 9)}${pad(r.p50.toFixed(3), 9)}`)
    }
    if (bad > 0) log(`!! ${bad} reads returned the wrong block`)
    log('')
    log('Cancellation:')
    const throttled = await throttledAbort(log, (fn) => cleanups.push(fn))
    if (!throttled) await plainAbort(log, file, FILE_SIZE)
    log('')
    cleanup()
    log('An HTTP file server on direct-aio streams (Range requests; a client that disconnects aborts its reads): node examples/file-server.mjs --root DIR, in a clone of the repository.')
    log('')
    log(`Removed the scratch file${throttled ? ', the loop device and the cgroup' : ''}. Done in ${((now() - t0) / 1000).toFixed(1)} s.`)
    return bad > 0 ? 1 : 0
  } finally {
    cleanup()
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    process.stdout.removeListener('error', onStdoutError)
  }
}
