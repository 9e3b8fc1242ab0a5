// Backend selection and per-backend cancellation behaviour:
// - DIRECT_AIO_BACKEND overrides 'auto' (never an explicit choice), and a
//   value that names no backend is refused rather than ignored;
// - the thread pool keeps at most UV_THREADPOOL_SIZE requests in flight;
// - kernelCancel 'never' sends no kernel cancels, 'auto' and 'trust' do;
// - libaio's io_cancel answers (-EINVAL) are counted as refused and the
//   aborted requests report stage 'issued'.
// The cancellation tests need requests that stay in the kernel, so they run
// in a child inside a throttled loop device's cgroup (root only).
import t, { Test } from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allocAligned, capabilities, IoContext, open } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'
import { scratchDir } from './helpers/tmp'
import { parseReport, runNode } from './helpers/seccomp'

const caps = capabilities()

function withEnv(t: Test, name: string, value: string | undefined): void {
  const saved = process.env[name]
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
  t.teardown(() => {
    if (saved === undefined) delete process.env[name]
    else process.env[name] = saved
  })
}

t.test('DIRECT_AIO_BACKEND overrides auto', async (t) => {
  const expectAuto = caps.ioUring.available ? 'io_uring' : caps.libaio.available ? 'libaio' : 'threadpool'
  const cases: Array<[string | undefined, string, boolean]> = [
    [undefined, expectAuto, true],
    ['', expectAuto, true],
    ['auto', expectAuto, true],
    ['threadpool', 'threadpool', true],
    ['libaio', 'libaio', caps.libaio.available],
    ['io_uring', 'io_uring', caps.ioUring.available],
  ]
  for (const [value, expected, possible] of cases) {
    t.test(`DIRECT_AIO_BACKEND=${value === undefined ? '(unset)' : JSON.stringify(value)}`, { skip: possible ? false : `${expected} unavailable here` }, async (t) => {
      withEnv(t, 'DIRECT_AIO_BACKEND', value)
      const ctx = new IoContext()
      t.teardown(() => ctx.close())
      t.equal(ctx.backend, expected, `new IoContext() runs on ${expected}`)
      t.same(ctx.refusals, {}, 'nothing was refused')
      const c = capabilities()
      t.equal(c.backend, expected, 'capabilities().backend agrees')
      if (value && value !== 'auto') t.equal(c.backendReason, `DIRECT_AIO_BACKEND=${value}`, 'and names the override')
    })
  }

  t.test('an explicit backend option is not overridden', async (t) => {
    withEnv(t, 'DIRECT_AIO_BACKEND', 'threadpool')
    const want = caps.ioUring.available ? 'io_uring' : 'libaio'
    const ctx = new IoContext({ backend: want })
    t.teardown(() => ctx.close())
    t.equal(ctx.backend, want)
  })

  t.test('a value that names no backend is refused, not ignored', async (t) => {
    withEnv(t, 'DIRECT_AIO_BACKEND', 'uring')
    t.throws(() => new IoContext(), { code: 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE', message: /DIRECT_AIO_BACKEND must be one of/ })
    const c = capabilities()
    t.match(c.backendReason, /DIRECT_AIO_BACKEND='uring' is not a backend name/, 'capabilities() reports it without throwing')
    const ctx = new IoContext({ backend: 'threadpool' })
    t.teardown(() => ctx.close())
    t.equal(ctx.backend, 'threadpool', 'explicit choices still work')
  })

  t.test('DIRECT_AIO_KERNEL_CANCEL sets the default policy', async (t) => {
    for (const v of ['never', 'trust', 'auto'] as const) {
      withEnv(t, 'DIRECT_AIO_KERNEL_CANCEL', v)
      const ctx = new IoContext()
      t.equal(ctx.kernelCancel, v)
      await ctx.close()
    }
    const ctx = new IoContext({ kernelCancel: 'never' })
    t.equal(ctx.kernelCancel, 'never', 'the option wins over the environment')
    await ctx.close()
  })
})

t.test('thread pool keeps at most UV_THREADPOOL_SIZE requests in flight', async (t) => {
  const dir = scratchDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'tp.bin')
  fs.writeFileSync(file, Buffer.alloc(1 << 20, 7))
  const size = capabilities().threadpool.size
  for (const maxInFlight of ['auto', 64] as const) {
    const ctx = new IoContext({ backend: 'threadpool', maxInFlight })
    const f = await open(file, 'r', { context: ctx })
    const bufs = Array.from({ length: 64 }, () => allocAligned(4096))
    const done = await Promise.all(bufs.map((b, i) => f.read(b, 0, 4096, (i * 4096) % (1 << 20))))
    t.ok(done.every((r) => r.bytesRead === 4096), `64 reads done (maxInFlight ${maxInFlight})`)
    const s = ctx.stats()
    t.ok(s.depth.peak <= size, `peak depth ${s.depth.peak} <= ${size} (maxInFlight ${maxInFlight})`)
    t.equal(s.depth.peak, size, 'and the pool was used fully')
    await f.close()
    await ctx.close()
  }
  // A smaller pool in a child (libuv reads UV_THREADPOOL_SIZE at start).
  const script = `
    const fs = require('node:fs')
    const { open, allocAligned, IoContext } = require('./dist/index.js')
    ;(async () => {
      const ctx = new IoContext()
      const f = await open(${JSON.stringify(file)}, 'r', { context: ctx })
      await Promise.all(Array.from({ length: 32 }, (_, i) => f.read(allocAligned(4096), 0, 4096, i * 4096)))
      const s = ctx.stats()
      await f.close(); await ctx.close()
      process.stdout.write(JSON.stringify({ backend: ctx.backend, peak: s.depth.peak }))
    })()`
  const r = parseReport(await runNode([process.execPath, '-e', script], { env: { UV_THREADPOOL_SIZE: '2', DIRECT_AIO_BACKEND: 'threadpool' } }))
  t.same(r, { backend: 'threadpool', peak: 2 }, 'UV_THREADPOOL_SIZE=2: peak depth 2')
})

interface AbortReport {
  backend: string
  kernelCancel: string
  inKernelAtAbort: number
  queuedAtAbort: number
  stages: { resolved: number; queued: number; kernel: number; issued: number; other: string[] }
  stats: { kernelCancels: { sent: number; cancelled: number; notFound: number; alreadyRunning: number; refused: number }; requests: Record<string, number> }
}

t.test('kernel cancels by policy, on a throttled device', { skip: congestUnsupported() ?? false }, async (t) => {
  const hw = Number(fs.readFileSync('/sys/module/loop/parameters/hw_queue_depth', 'utf8').trim()) || 128
  // nr_requests is set explicitly: loop devices are reused and keep the last user's value.
  const dev = CongestedDevice.create({ sizeMiB: 8, readIops: 50, writeIops: 0, fill: 'zero', nrRequests: hw })
  t.teardown(() => dev.destroy())
  const N = 16
  const run = async (backend: string, kernelCancel: string): Promise<AbortReport> => {
    const cfg = { path: dev.loop, backend, kernelCancel, n: N, maxInFlight: 8, deviceSize: dev.sizeBytes, abortWhen: 'split' }
    const out = await dev.run(path.join(__dirname, 'fixtures', 'backend-abort.js'), [JSON.stringify(cfg)], { timeoutMs: 30000 })
    const r = parseReport<AbortReport>(out)
    t.comment(`${backend}/${kernelCancel}: in kernel at abort ${r.inKernelAtAbort}, stages ${JSON.stringify(r.stages)}, kernel cancels ${JSON.stringify(r.stats.kernelCancels)}`)
    return r
  }
  const common = (t: Test, r: AbortReport, backend: string) => {
    t.equal(r.backend, backend)
    t.same(r.stages.other, [], 'no errors other than AbortError')
    t.equal(r.stages.resolved + r.stages.queued + r.stages.kernel + r.stages.issued, N, 'every request settled')
    t.ok(r.inKernelAtAbort > 0, `${r.inKernelAtAbort} requests were in the kernel at the abort`)
    t.ok(r.stages.issued > 0, 'some aborts came too late (stage issued)')
    t.ok(r.stages.queued > 0, 'the rest were dropped in the queue')
    const k = r.stats.kernelCancels
    t.equal(k.cancelled + k.notFound + k.alreadyRunning + k.refused, k.sent, 'every kernel cancel was answered')
  }

  const backends = ([['io_uring', caps.ioUring.available], ['libaio', caps.libaio.available]] as const)
  for (const [backend, available] of backends) {
    t.test(`${backend}: kernelCancel 'never' sends no kernel cancels`, { skip: available ? false : `${backend} unavailable` }, async (t) => {
      const r = await run(backend, 'never')
      common(t, r, backend)
      t.equal(r.kernelCancel, 'never')
      t.equal(r.stats.kernelCancels.sent, 0, 'stats().kernelCancels.sent === 0')
      t.equal(r.stages.kernel, 0)
    })
    for (const policy of ['auto', 'trust']) {
      t.test(`${backend}: kernelCancel '${policy}' asks the kernel`, { skip: available ? false : `${backend} unavailable` }, async (t) => {
        const r = await run(backend, policy)
        common(t, r, backend)
        const k = r.stats.kernelCancels
        t.ok(k.sent > 0, `${k.sent} kernel cancels sent`)
        t.ok(k.sent <= r.inKernelAtAbort, 'at most one per in-flight request')
        if (backend === 'libaio') {
          t.equal(k.refused, k.sent, 'libaio io_cancel answers -EINVAL: counted as refused')
          t.equal(k.cancelled, 0)
          t.equal(r.stages.kernel, 0, "so no abort reports stage 'kernel'")
          t.ok(r.stages.issued >= k.sent, "the refused ones report stage 'issued'")
        } else {
          // Reads in the block layer are past io_uring's reach: -ENOENT.
          t.equal(k.cancelled, r.stages.kernel, "every cancel answered 0 ended as stage 'kernel'")
        }
      })
    }
  }

  t.test('threadpool: no kernel cancels whatever the policy', async (t) => {
    const r = await run('threadpool', 'trust')
    common(t, r, 'threadpool')
    t.equal(r.stats.kernelCancels.sent, 0)
    t.equal(r.stages.kernel, 0, "the thread pool never reports stage 'kernel'")
    t.ok(r.inKernelAtAbort <= 4, 'at most UV_THREADPOOL_SIZE in flight')
  })
})
