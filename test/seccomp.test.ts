// Refusals, as a container's seccomp profile produces them: the test process
// spawns children under test/fixtures/seccomp-launcher.c (built here with
// `cc`), which makes io_uring_setup (and, with --aio, io_setup) fail with
// EPERM. Detection must say why, 'auto' must fall back and remember the
// reason, an explicitly requested backend must throw instead of falling
// back, and the fallback backends must work end to end.
import t from 'tap'
import * as fs from 'node:fs'
import { scratchDir } from './helpers/tmp'
import { parseReport, runUnderSeccomp, seccompSkip } from './helpers/seccomp'

const SECCOMP_REASON = 'EPERM from io_uring_setup: blocked by seccomp or kernel.io_uring_disabled=2'
const REPORT = 'test/fixtures/backend-report.js'
const ROUNDTRIP = 'test/fixtures/backend-roundtrip.js'
const skip = seccompSkip()

let sysctl: number | null = null
try {
  sysctl = Number(fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim())
} catch {
  // kernel without the sysctl (before 6.6)
}
// The reason text for EPERM depends on the sysctl; this machine has 0 (or none).
const sysctlSkip = sysctl !== null && sysctl !== 0 ? `kernel.io_uring_disabled=${sysctl} changes the refusal text` : false

interface Report {
  capabilities: any
  auto: { ok: boolean; backend?: string; refusals?: Record<string, string>; code?: string; message?: string }
  explicit: Record<string, { ok: boolean; backend?: string; code?: string; message?: string }>
}

t.test('io_uring_setup refused by seccomp: detection, auto -> libaio, explicit io_uring throws', { skip: skip || sysctlSkip }, async (t) => {
  const r = parseReport<Report>(await runUnderSeccomp({ uring: true }, [REPORT]))
  const caps = r.capabilities
  t.equal(caps.ioUring.available, false, 'capabilities(): io_uring unavailable')
  t.equal(caps.ioUring.reason, SECCOMP_REASON, 'with the seccomp reason')
  t.same(caps.ioUring.opcodes, [], 'no opcodes reported for a ring that could not be made')
  t.equal(caps.ioUring.featureBits, 0)
  t.equal(caps.ioUring.disabledSysctl, sysctl, 'the sysctl is still read')
  t.equal(caps.libaio.available, true, 'libaio still available')
  t.equal(caps.backend, 'libaio', "capabilities().backend: 'auto' picks libaio")
  t.match(caps.backendReason, /io_uring refused \(EPERM from io_uring_setup/, 'and says why')
  t.equal(caps.blockLayerCancel, false)

  t.equal(r.auto.ok, true, 'new IoContext() works')
  t.equal(r.auto.backend, 'libaio', 'on libaio')
  t.same(r.auto.refusals, { io_uring: SECCOMP_REASON }, 'refusals.io_uring has the reason')

  const u = r.explicit.io_uring
  t.equal(u.ok, false, "new IoContext({ backend: 'io_uring' }) throws")
  t.equal(u.code, 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE')
  t.equal(u.message, `The io_uring backend is not available: ${SECCOMP_REASON}`, 'with a message that names the backend and the reason')
  t.same({ ok: r.explicit.libaio.ok, backend: r.explicit.libaio.backend }, { ok: true, backend: 'libaio' })
  t.same({ ok: r.explicit.threadpool.ok, backend: r.explicit.threadpool.backend }, { ok: true, backend: 'threadpool' })
})

t.test('DIRECT_AIO_BACKEND=io_uring under the filter throws instead of falling back', { skip: skip || sysctlSkip }, async (t) => {
  const r = parseReport<Report>(await runUnderSeccomp({ uring: true }, [REPORT], { env: { DIRECT_AIO_BACKEND: 'io_uring' } }))
  t.equal(r.auto.ok, false, 'new IoContext() throws')
  t.equal(r.auto.code, 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE')
  t.match(r.auto.message, SECCOMP_REASON)
  t.match(r.auto.message, /DIRECT_AIO_BACKEND=io_uring/, 'and says the request came from the environment')
  t.equal(r.capabilities.backend, 'io_uring', 'capabilities() reports the override...')
  t.match(r.capabilities.backendReason, /unavailable .*will throw/, '...and that it cannot be honoured')
})

t.test('io_setup refused too: auto picks the thread pool', { skip: skip || sysctlSkip }, async (t) => {
  const r = parseReport<Report>(await runUnderSeccomp({ uring: true, aio: true }, [REPORT]))
  const caps = r.capabilities
  t.equal(caps.ioUring.available, false)
  t.equal(caps.libaio.available, false, 'capabilities(): libaio unavailable')
  t.equal(caps.libaio.reason, 'EPERM from io_setup: blocked by seccomp')
  t.equal(caps.backend, 'threadpool')
  t.equal(r.auto.backend, 'threadpool', 'new IoContext() runs on the thread pool')
  t.same(r.auto.refusals, { io_uring: SECCOMP_REASON, libaio: 'EPERM from io_setup: blocked by seccomp' }, 'with both refusals')
  t.equal(r.explicit.libaio.code, 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE', "backend: 'libaio' throws")
  t.match(r.explicit.libaio.message, 'EPERM from io_setup')
  t.equal(r.explicit.io_uring.code, 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE', "backend: 'io_uring' throws")
})

for (const [name, blocked, expected] of [
  ['io_uring refused: libaio', { uring: true }, 'libaio'],
  ['io_uring and io_setup refused: thread pool', { uring: true, aio: true }, 'threadpool'],
] as const) {
  t.test(`functional round trip, ${name}`, { skip }, async (t) => {
    const dir = scratchDir()
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const r = parseReport(await runUnderSeccomp(blocked, [ROUNDTRIP, dir]))
    t.equal(r.backend, expected, `auto picked ${expected}`)
    for (const [check, v] of Object.entries(r.checks as Record<string, { ok: boolean; detail: unknown }>)) {
      t.ok(v.ok, check, { detail: v.detail })
    }
    t.ok(Object.keys(r.checks).length >= 10, 'all checks ran')
    t.equal(r.stats.native.liveOps, 0, 'nothing left in flight')
    if (expected === 'threadpool') {
      t.ok(r.stats.depth.peak <= 4, `thread pool depth peaked at ${r.stats.depth.peak} <= UV_THREADPOOL_SIZE (4)`)
      t.equal(r.stats.kernelCancels.sent, 0, 'no kernel cancels from the thread pool')
    }
  })
}
