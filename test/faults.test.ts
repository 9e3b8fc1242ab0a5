// Faults from real devices and kernel limits (root where noted; skipped with
// the reason otherwise):
//  - ENOSPC on a small ext4 filesystem on a loop device; earlier data intact.
//  - The loop device's backing file truncated while reads are in flight (this
//    is what makes in-flight reads fail on this kernel: the loop driver ends
//    them with EIO; `losetup -d` on an open device only detaches lazily and
//    the reads succeed): requests reject with EIO, nothing hangs, the context
//    stays usable for other files.
//  - A file unlinked while open keeps working.
//  - Reads at and past EOF return the bytes up to EOF, then 0.
//  - 100,000 requests through a ring of 8 entries while the event loop is
//    blocked for 200 ms at a time (completions drained late).
//  - io_setup EAGAIN when fs.aio-max-nr is exhausted: libaio refuses with the
//    reason, capabilities() reports it, 'auto' falls back and says why.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allocAligned, capabilities, IoContext, open } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'
import { scratchDir } from './helpers/tmp'

const caps = capabilities()
const backends: Array<[string, string | false]> = [
  ['io_uring', caps.ioUring.available ? false : `io_uring unavailable: ${caps.ioUring.reason}`],
  ['libaio', caps.libaio.available ? false : `libaio unavailable: ${caps.libaio.reason}`],
  ['threadpool', false],
]
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
const dir = scratchDir()
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function fill(buf: Buffer, seed: number): Buffer {
  for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((seed * 2654435761 + i) >>> 0, i)
  return buf
}

// ---------------------------------------------------------------------------
const noExt4 = !isRoot ? 'needs root (losetup, mkfs.ext4, mount)' : !has('mkfs.ext4') ? 'mkfs.ext4 not installed (apt-get install e2fsprogs)' : !has('losetup') ? 'losetup not installed' : false
t.test('ENOSPC on a full ext4 filesystem; earlier data intact', { skip: noExt4 }, async (t) => {
  const image = path.join(dir, 'small-ext4.img')
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  fs.writeFileSync(image, '')
  fs.truncateSync(image, 24 << 20)
  const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim()
  let mounted = false
  t.teardown(() => {
    if (mounted) {
      try {
        execFileSync('umount', [mnt], { stdio: 'ignore' })
      } catch {
        execFileSync('umount', ['-l', mnt], { stdio: 'ignore' })
      }
    }
    try {
      execFileSync('losetup', ['-d', loop], { stdio: 'ignore' })
    } catch {
      // already gone
    }
  })
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', loop], { stdio: 'ignore' })
  execFileSync('mount', [loop, mnt])
  mounted = true

  for (const [backend, skip] of backends) {
    await t.test(backend, { skip }, async (t) => {
      const file = path.join(mnt, `fill-${backend}.bin`)
      const ctx = new IoContext({ backend: backend as never })
      const h = await open(file, 'w+', { context: ctx })
      const CHUNK = 256 * 1024
      const acked: Array<[number, number, number]> = [] // [position, bytes, seed]
      let pos = 0
      let failure: (Error & { code?: string; syscall?: string }) | null = null
      let seed = 1
      // Four writes in flight at a time until one fails.
      while (!failure && pos < 64 << 20) {
        const batch: Array<Promise<void>> = []
        for (let k = 0; k < 4; k++) {
          const p = pos
          const s = seed++
          pos += CHUNK
          batch.push(
            h.write(fill(allocAligned(CHUNK), s), 0, CHUNK, p).then(
              ({ bytesWritten }) => {
                acked.push([p, bytesWritten, s])
              },
              (e) => {
                failure = failure ?? e
              },
            ),
          )
        }
        await Promise.all(batch)
      }
      t.ok(failure, 'a write failed once the filesystem was full')
      const f = failure as unknown as Error & { code?: string; syscall?: string; path?: string }
      t.equal(f?.code, 'ENOSPC', `it failed with ENOSPC (${f?.message})`)
      t.equal(f?.syscall, 'write', "syscall 'write'")
      t.equal(f?.path, file, 'the error names the file')
      const total = acked.reduce((a, [, n]) => a + n, 0)
      t.ok(total > 8 << 20, `${(total / 1048576).toFixed(1)} MiB were written before ENOSPC`)
      // Everything acknowledged reads back exactly, through the same context.
      let bad = 0
      const want = Buffer.alloc(CHUNK)
      for (const [p, n, s] of acked) {
        const r = allocAligned(CHUNK)
        const { bytesRead } = await h.read(r, 0, CHUNK, p)
        fill(want, s)
        if (bytesRead < n || !r.subarray(0, n).equals(want.subarray(0, n))) bad++
      }
      t.equal(bad, 0, `all ${acked.length} acknowledged writes are intact`)
      const more = await h.write(fill(allocAligned(CHUNK), 999), 0, CHUNK, pos + (1 << 20)).catch((e: Error & { code?: string }) => e)
      t.equal((more as { code?: string }).code, 'ENOSPC', 'a later write still reports ENOSPC')
      await h.close()
      await ctx.close()
      fs.unlinkSync(file)
      execFileSync('sync')
    })
  }
})

// ---------------------------------------------------------------------------
const noCongest = congestUnsupported()

/** Put this whole process (every thread) into the device's throttled cgroup until `leave()`. */
function joinThrottle(dev: CongestedDevice): () => void {
  fs.writeFileSync(`${dev.cgroup}/cgroup.procs`, String(process.pid))
  return () => fs.writeFileSync('/sys/fs/cgroup/blkio/cgroup.procs', String(process.pid))
}

t.test('backing file truncated under a loop device while reads are in flight', { skip: noCongest ? `throttled device unavailable: ${noCongest}` : false }, async (t) => {
  const other = path.join(dir, 'other.bin')
  fs.writeFileSync(other, fill(Buffer.alloc(1 << 20), 7))
  for (const [backend, skip] of backends) {
    await t.test(backend, { skip }, async (t) => {
      const dev = CongestedDevice.create({ sizeMiB: 32, readIops: 50, writeIops: 50, fill: 'zero' })
      const leave = joinThrottle(dev)
      t.teardown(() => {
        leave()
        dev.destroy()
      })
      const ctx = new IoContext({ backend: backend as never, maxInFlight: 32 })
      const h = await open(dev.loop, 'r', { context: ctx })
      const N = 120
      const outcome: string[] = new Array(N)
      const ps = Array.from({ length: N }, (_, i) =>
        h.read(allocAligned(4096), 0, 4096, (i * 61 % 8000) * 4096).then(
          ({ bytesRead }) => void (outcome[i] = `ok ${bytesRead}`),
          (e: Error & { code?: string; syscall?: string; errno?: number }) => void (outcome[i] = `${e.code}/${e.syscall}/${typeof e.errno}`),
        ),
      )
      await new Promise((r) => setTimeout(r, 150))
      const inKernel = ctx.stats().depth.current
      fs.truncateSync(dev.image, 0)
      const t0 = Date.now()
      const settled = await Promise.race([Promise.all(ps).then(() => true), new Promise((r) => setTimeout(() => r(false), 30000))])
      t.ok(settled, `every read settled after the truncation (${Date.now() - t0} ms)`)
      const counts: Record<string, number> = {}
      for (const o of outcome) counts[o] = (counts[o] ?? 0) + 1
      t.comment(`${backend}: ${inKernel} in the kernel at the truncation; outcomes ${JSON.stringify(counts)}`)
      t.ok(counts['EIO/read/number'] > 0, 'reads after the truncation rejected with EIO (syscall read, numeric errno)')
      t.ok(outcome.every((o) => o === 'ok 4096' || /^E[A-Z]+\/read\/number$/.test(o)), 'every outcome is a full read or an fs-shaped read error')
      // The context is still usable for other files.
      const o = await open(other, 'r', { context: ctx })
      const b = allocAligned(65536)
      const { bytesRead } = await o.read(b, 0, 65536, 0)
      t.equal(bytesRead, 65536, 'the same context reads another file afterwards')
      t.ok(b.equals(fill(Buffer.alloc(1 << 20), 7).subarray(0, 65536)), 'with the right data')
      await o.close()
      await h.close()
      await ctx.close()
    })
  }
})

t.test('losetup -d while reads are in flight (lazy detach: the reads complete)', { skip: noCongest ? `throttled device unavailable: ${noCongest}` : false }, async (t) => {
  const dev = CongestedDevice.create({ sizeMiB: 16, readIops: 100, writeIops: 100, fill: 'random' })
  const leave = joinThrottle(dev)
  t.teardown(() => {
    leave()
    dev.destroy()
  })
  const ctx = new IoContext({ maxInFlight: 16 })
  const h = await open(dev.loop, 'r', { context: ctx })
  const ps = Array.from({ length: 40 }, (_, i) => h.read(allocAligned(4096), 0, 4096, i * 65536).then((r) => r.bytesRead, (e: Error & { code?: string }) => e.code))
  await new Promise((r) => setTimeout(r, 100))
  execFileSync('losetup', ['-d', dev.loop])
  const results = await Promise.race([Promise.all(ps), new Promise<null>((r) => setTimeout(() => r(null), 20000))])
  t.ok(results, 'every read settled')
  t.comment(`after losetup -d: ${JSON.stringify(results && results.reduce((a: Record<string, number>, x) => ((a[String(x)] = (a[String(x)] ?? 0) + 1), a), {}))}`)
  t.ok(results?.every((x) => x === 4096 || (typeof x === 'string' && /^E/.test(x))), 'each is a full read or an errno error')
  await h.close()
  await ctx.close()
})

// ---------------------------------------------------------------------------
for (const [backend, skip] of backends) {
  t.test(`a file unlinked while open keeps working: ${backend}`, { skip }, async (t) => {
    const p = path.join(dir, `unlinked-${backend}.bin`)
    const ctx = new IoContext({ backend: backend as never })
    t.teardown(() => ctx.close())
    const h = await open(p, 'w+', { context: ctx })
    const a = fill(allocAligned(65536), 1)
    await h.write(a, 0, a.length, 0)
    fs.unlinkSync(p)
    t.notOk(fs.existsSync(p), 'the name is gone')
    const b = fill(allocAligned(65536), 2)
    t.equal((await h.write(b, 0, b.length, 65536)).bytesWritten, 65536, 'writes go on')
    const r = allocAligned(131072)
    t.equal((await h.read(r, 0, r.length, 0)).bytesRead, 131072, 'reads go on')
    t.ok(r.subarray(0, 65536).equals(a) && r.subarray(65536).equals(b), 'with the right data')
    await h.sync()
    const st = await h.stat()
    t.equal(st.nlink, 0, 'fstat reports no links')
    t.equal(st.size, 131072, 'and the size')
    await h.truncate(4096)
    t.equal((await h.read(r, 0, r.length, 0)).bytesRead, 4096, 'truncate works on the unlinked file')
    await h.close()
  })

  t.test(`reads at and past end of file: ${backend}`, { skip }, async (t) => {
    const p = path.join(dir, `eof-${backend}.bin`)
    const content = fill(Buffer.alloc(10000), 3) // not a multiple of the block size
    fs.writeFileSync(p, content)
    const ctx = new IoContext({ backend: backend as never, chunkSize: 4096 })
    t.teardown(() => ctx.close())
    const h = await open(p, 'r', { context: ctx })
    t.teardown(() => h.close())
    const b = allocAligned(16384)
    let r = await h.read(b, 0, 16384, 0)
    t.equal(r.bytesRead, 10000, 'a chunked read across EOF returns the bytes up to EOF')
    t.ok(b.subarray(0, 10000).equals(content), 'exactly')
    r = await h.read(b, 0, 4096, 8192)
    t.equal(r.bytesRead, 10000 - 8192, 'a read straddling EOF is short')
    t.equal((await h.read(b, 0, 4096, 12288)).bytesRead, 0, 'a read just past EOF returns 0')
    t.equal((await h.read(b, 0, 4096, 1 << 30)).bytesRead, 0, 'a read far past EOF returns 0')
    t.equal((await h.read(b, 0, 4096, 2 ** 40)).bytesRead, 0, 'a read at 1 TiB returns 0')
    const v = [allocAligned(8192), allocAligned(8192)]
    t.equal((await h.readv(v, 0)).bytesRead, 10000, 'readv across EOF is short')
    t.equal((await h.readv(v, 16384)).bytesRead, 0, 'readv past EOF returns 0')
    // Current-position reads advance only by what was read.
    const cur = await open(p, 'r', { context: ctx })
    t.equal((await cur.read(b, 0, 8192, null)).bytesRead, 8192, 'first current-position read')
    t.equal((await cur.read(b, 0, 8192, null)).bytesRead, 10000 - 8192, 'second stops at EOF')
    // The position is now 10000, not a multiple of 512; the kernel answers a
    // read there with 0 (EOF is checked before alignment), and so must we.
    const third = await cur.read(b, 0, 8192, null).catch((e: Error) => e)
    t.equal((third as { bytesRead?: number }).bytesRead, 0, `third returns 0 (${third instanceof Error ? third.message : 'ok'})`)
    await cur.close()
  })
}

// ---------------------------------------------------------------------------
for (const [backend, skip] of backends.filter(([b]) => b !== 'threadpool')) {
  t.test(`100,000 requests on a ring of 8 entries, completions drained late: ${backend}`, { skip }, async (t) => {
    const p = path.join(dir, `cq-${backend}.bin`)
    const BLOCKS = 1024
    const content = Buffer.alloc(BLOCKS * 4096)
    for (let i = 0; i < BLOCKS; i++) content.writeUInt32LE(i, i * 4096)
    fs.writeFileSync(p, content)
    const ctx = new IoContext({ backend: backend as never, entries: 8 })
    const h = await open(p, 'r', { context: ctx })
    const TOTAL = Number(process.env.FAULTS_CQ_REQUESTS) || 100000
    const WINDOW = 2048 // outstanding at once: 8 in the kernel, the rest in the queue
    let issued = 0
    let done = 0
    let wrong = 0
    let blocked = 0
    let maxGap = 0
    const t0 = Date.now()
    await new Promise<void>((resolve, reject) => {
      const issue = () => {
        const i = issued++
        const blk = (i * 7919) % BLOCKS
        h.read(allocAligned(4096), 0, 4096, blk * 4096).then(({ bytesRead, buffer }) => {
          if (bytesRead !== 4096 || buffer.readUInt32LE(0) !== blk) wrong++
          done++
          if (done % 20000 === 0) {
            // Block the event loop while the kernel keeps completing into the ring.
            const until = Date.now() + 200
            while (Date.now() < until) {
              // busy
            }
            blocked++
          }
          if (issued < TOTAL) issue()
          else if (done === TOTAL) resolve()
        }, reject)
      }
      for (let k = 0; k < WINDOW && issued < TOTAL; k++) issue()
    })
    const ms = Date.now() - t0
    const s = ctx.stats()
    maxGap = s.depth.peak
    t.equal(done, TOTAL, `${TOTAL} requests completed (${ms} ms, ${Math.round(TOTAL / (ms / 1000))}/s)`)
    t.equal(wrong, 0, 'every read returned its block')
    t.ok(blocked >= Math.floor(TOTAL / 20000), `the event loop was blocked ${blocked} times for 200 ms`)
    t.ok(maxGap <= 8, `never more than the ring's 8 entries in the kernel (peak ${maxGap})`)
    t.equal(s.requests.completed, TOTAL, 'stats agree')
    await h.close()
    await ctx.close()
  })
}

// ---------------------------------------------------------------------------
const AIO_MAX = '/proc/sys/fs/aio-max-nr'
const AIO_NR = '/proc/sys/fs/aio-nr'
const URING_DISABLED = '/proc/sys/kernel/io_uring_disabled'
const noAioLimit = !isRoot ? `needs root to lower ${AIO_MAX}` : !fs.existsSync(AIO_MAX) ? `no ${AIO_MAX}` : !caps.libaio.available ? `libaio unavailable: ${caps.libaio.reason}` : false

t.test('io_setup EAGAIN when fs.aio-max-nr is exhausted', { skip: noAioLimit }, async (t) => {
  const original = fs.readFileSync(AIO_MAX, 'utf8').trim()
  const restore = () => fs.writeFileSync(AIO_MAX, original)
  process.once('exit', restore)
  t.teardown(() => {
    restore()
    process.off('exit', restore)
  })
  // A context made before the limit keeps working after it.
  const before = new IoContext({ backend: 'libaio' })
  const p = path.join(dir, 'aio.bin')
  fs.writeFileSync(p, fill(Buffer.alloc(65536), 9))
  const h = await open(p, 'r', { context: before })

  fs.writeFileSync(AIO_MAX, fs.readFileSync(AIO_NR, 'utf8').trim())
  let err: (Error & { code?: string }) | null = null
  try {
    new IoContext({ backend: 'libaio' })
  } catch (e) {
    err = e as Error & { code?: string }
  }
  t.equal(err?.code, 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE', "new IoContext({ backend: 'libaio' }) throws ERR_DIRECT_AIO_BACKEND_UNAVAILABLE")
  t.match(err?.message, /EAGAIN/, 'the message gives the errno')
  t.match(err?.message, /aio-max-nr/, 'and names fs.aio-max-nr')
  const c = capabilities({ refresh: true })
  t.equal(c.libaio.available, false, 'capabilities({ refresh: true }).libaio.available is false')
  t.match(c.libaio.reason, /EAGAIN.*aio-max-nr/, 'with the reason')
  const b = allocAligned(65536)
  t.equal((await h.read(b, 0, 65536, 0)).bytesRead, 65536, 'the existing libaio context still works')

  // 'auto' prefers io_uring here; the fallback chain is exercised by disabling
  // io_uring for the moment it takes to build one context.
  const auto = new IoContext()
  t.equal(auto.backend, caps.ioUring.available ? 'io_uring' : 'threadpool', `'auto' picks ${auto.backend} while libaio is refused`)
  await auto.close()
  if (caps.ioUring.available && fs.existsSync(URING_DISABLED)) {
    const uringOriginal = fs.readFileSync(URING_DISABLED, 'utf8').trim()
    let fallback: IoContext | null = null
    let capsNow: ReturnType<typeof capabilities> | null = null
    try {
      fs.writeFileSync(URING_DISABLED, '2')
      fallback = new IoContext()
      capsNow = capabilities({ refresh: true })
    } finally {
      fs.writeFileSync(URING_DISABLED, uringOriginal)
    }
    t.equal(fallback.backend, 'threadpool', "with io_uring disabled too, 'auto' falls back to the thread pool")
    t.match(fallback.refusals.io_uring, /EPERM.*io_uring_disabled/, 'and says why io_uring was refused')
    t.match(fallback.refusals.libaio, /EAGAIN.*aio-max-nr/, 'and why libaio was refused')
    t.equal(capsNow?.backend, 'threadpool', 'capabilities() agrees')
    t.match(capsNow?.backendReason, /aio-max-nr/, 'backendReason names aio-max-nr')
    const fh = await open(p, 'r', { context: fallback })
    t.equal((await fh.read(b, 0, 65536, 0)).bytesRead, 65536, 'the fallback context works')
    await fh.close()
    await fallback.close()
  }
  restore()
  t.equal(capabilities({ refresh: true }).libaio.available, true, 'libaio is available again once the limit is restored')
  const again = new IoContext({ backend: 'libaio' })
  await again.close()
  await h.close()
  await before.close()
})
