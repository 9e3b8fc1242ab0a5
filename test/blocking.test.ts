// No blocking, ever (issue 10, defect 6). libaio is asynchronous only for
// O_DIRECT I/O on regular files and block devices; io_submit does anything
// else inline. Before the fix, a read of an empty FIFO on a libaio context
// froze the event loop for good (no timer fired, the abort never ran), and a
// buffered read of a throttled device blocked it for the whole throttle delay.
// Now such files are served by the context's thread pool (`handle.backend`
// says so), and FIFOs/sockets are refused outside io_uring, whose reads of a
// pipe wait in the kernel and can be cancelled.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { open } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'
import { backendRefusal, forEachBackend, randomFile, scratch } from './helpers/backends'

const CHILD = path.join(__dirname, 'fixtures', 'blocking-child.js')

interface Report {
  backend: string
  fileBackend?: string
  openError?: { code: string; errno: number; syscall: string; message: string }
  results?: Array<{ ok: boolean; bytes?: number; name?: string; stage?: string; ms: number }>
  maxGapMs?: number
}

function runChild(cfg: object, timeoutMs = 20000, wrap?: (argv: string[]) => string[]): Promise<{ code: number | null; signal: string | null; report: Report | null; stderr: string }> {
  return new Promise((resolve) => {
    const argv = [process.execPath, CHILD, JSON.stringify(cfg)]
    const full = wrap ? wrap(argv) : argv
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let report: Report | null = null
      try {
        report = JSON.parse(out) as Report
      } catch {
        report = null
      }
      resolve({ code, signal, report, stderr: err })
    })
  })
}

t.test('a FIFO', async (t) => {
  const dir = scratch(t)
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  for (const backend of ['libaio', 'threadpool'] as const) {
    const refusal = backendRefusal(backend)
    await t.test(`is refused at open on ${backend}, with the reason`, { skip: refusal ? `${backend} unavailable: ${refusal}` : false }, async (t) => {
      const r = await runChild({ backend, path: fifo, flags: 'r+', direct: false, reads: 1, spacing: undefined, abortAfterMs: 200 })
      t.equal(r.signal, null, 'the child was not killed (its event loop kept running)')
      t.ok(r.report?.openError, `open() rejected${r.report?.results ? ` (it did not: ${JSON.stringify(r.report.results)})` : ''}`)
      t.match(r.report?.openError, { code: 'EINVAL', syscall: 'open' }, 'an fs-shaped EINVAL from open')
      t.match(r.report?.openError?.message ?? '', /FIFO.*io_uring/, 'the message names the reason and the way out')
    })
  }
  const refusal = backendRefusal('io_uring')
  await t.test('on io_uring: an empty FIFO read waits without blocking, and an abort settles it', { skip: refusal ? `io_uring unavailable: ${refusal}` : false }, async (t) => {
    const r = await runChild({ backend: 'io_uring', path: fifo, flags: 'r+', direct: false, reads: 1, spacing: undefined, abortAfterMs: 200 })
    t.equal(r.signal, null, 'the child was not killed')
    t.equal(r.code, 0, `the child exited cleanly ${r.stderr.slice(0, 200)}`)
    const res = r.report?.results?.[0]
    t.match(res, { ok: false, name: 'AbortError' }, 'the read rejected with AbortError')
    t.ok((r.report?.maxGapMs ?? Infinity) < 150, `the event loop kept ticking (largest gap ${r.report?.maxGapMs?.toFixed(1)} ms)`)
  })
})

forEachBackend(t, 'buffered files on a libaio context are served by the thread pool', async (t, ctx, backend) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'buffered.bin', 10000)
  const fh = await open(p, 'r+', { context: ctx, direct: false })
  t.teardown(() => fh.close())
  t.equal(fh.backend, backend === 'libaio' ? 'threadpool' : backend, `handle.backend is ${fh.backend}`)
  const buf = Buffer.alloc(10000)
  const { bytesRead } = await fh.read(buf, 0, 10000, 0)
  t.equal(bytesRead, 10000, 'read the whole file')
  t.ok(buf.equals(data), 'the bytes match')
  await fh.write(Buffer.from('hello'), 0, 5, 3)
  await fh.datasync()
  t.equal(fs.readFileSync(p).subarray(3, 8).toString(), 'hello', 'a buffered write landed')
  const direct = await open(p, 'r', { context: ctx })
  t.teardown(() => direct.close())
  t.equal(direct.backend, backend, 'an O_DIRECT handle of the same context stays on the context backend')
  const s = ctx.stats()
  t.ok(s.requests.completed >= 3, `the context counts the pool's requests too (${s.requests.completed} completed)`)
})

const noCongest = congestUnsupported()
t.test('a buffered read of a throttled device does not block the loop on libaio', { skip: noCongest ? `throttled device unavailable: ${noCongest}` : backendRefusal('libaio') ? `libaio unavailable: ${backendRefusal('libaio')}` : false }, async (t) => {
  // 8 reads at 1 MiB spacing through a 5 IOPS throttle: about 1.6 s of device
  // time. Done inline in io_submit, that was one 1.6 s gap in the event loop.
  const dev = CongestedDevice.create({ sizeMiB: 16, fill: 'zero', readIops: 5, writeIops: 5 })
  t.teardown(() => dev.destroy())
  execFileSync('sh', ['-c', 'echo 1 > /proc/sys/vm/drop_caches'])
  const r = await runChild({ backend: 'libaio', path: dev.loop, direct: false, reads: 8, spacing: 1 << 20 }, 60000, (argv) => ['bash', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dev.cgroup, ...argv])
  t.equal(r.signal, null, 'the child was not killed')
  t.equal(r.code, 0, `the child exited cleanly ${r.stderr.slice(0, 200)}`)
  t.equal(r.report?.fileBackend, 'threadpool', 'the buffered handle runs on the thread pool')
  t.ok(r.report?.results?.every((x) => x.ok && x.bytes === 4096), 'every read returned 4096 bytes')
  const slowest = Math.max(...(r.report?.results ?? []).map((x) => x.ms))
  t.ok((r.report?.maxGapMs ?? Infinity) < 400, `largest event-loop gap ${r.report?.maxGapMs?.toFixed(1)} ms < 400 ms while the reads took ${slowest.toFixed(0)} ms`)
})
