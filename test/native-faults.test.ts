// The native core under faults no kernel here produces on demand, injected
// into the real syscalls by an LD_PRELOAD shim (test/fixtures/fault-shim.c),
// and under environment teardown:
//  - worker.terminate() while a worker loops over 32 concurrent reads: the
//    process survives every termination (exit 0).
//  - A pre-5.19 kernel (ASYNC_CANCEL with flags -> EINVAL): capabilities()
//    returns promptly and reports the flags unsupported.
//  - io_uring_enter / io_submit accept 1 of 2, then fail once with
//    EAGAIN or EBUSY: both reads settle.
//  - ring.close() while 16 x 4 MiB reads are in the kernel and waiting fails
//    transiently: close() returns only after the kernel is done.
//  - libaio close() waiting on slow reads does not spin (root: throttled device).
//  - failed ring constructors leave liveRings at 0.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { capabilities } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'
import { faultShimSkip, runWithFault } from './helpers/fault-shim'
import { parseReport, ROOT, runNode, runUnderSeccomp, seccompSkip } from './helpers/seccomp'
import { scratchDir } from './helpers/tmp'

const caps = capabilities()
const native: Array<['io_uring' | 'libaio', string | false]> = [
  ['io_uring', caps.ioUring.available ? false : `io_uring unavailable: ${caps.ioUring.reason}`],
  ['libaio', caps.libaio.available ? false : `libaio unavailable: ${caps.libaio.reason}`],
]
const CHILD = path.join(ROOT, 'test', 'fixtures', 'native-fault-child.js')
const dir = scratchDir()
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
const shimSkip = faultShimSkip()

function dataFile(name: string, bytes: number): string {
  const file = path.join(dir, name)
  if (!fs.existsSync(file)) {
    const b = Buffer.alloc(bytes)
    for (let i = 0; i < bytes; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i)
    // Written back before any O_DIRECT read: a read over dirty pages waits
    // for writeback in an io_uring worker, where a cancel reaches it.
    const fd = fs.openSync(file, 'w')
    fs.writeSync(fd, b)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
  }
  return file
}

t.test('worker.terminate() during I/O never aborts the process', async (t) => {
  const file = dataFile('small.bin', 1 << 20)
  const runs = Number(process.env.TERMINATE_RUNS ?? 50)
  for (const [backend, skip] of native) {
    await t.test(backend, { skip }, async (t) => {
      const r = await runNode([process.execPath, path.join(ROOT, 'test', 'fixtures', 'worker-terminate.js'), backend, file, String(runs)], { timeoutMs: 60000 })
      t.equal(r.signal, null, 'no signal')
      t.equal(r.code, 0, `exit 0 after ${runs} terminations${r.code ? `: ${r.stderr.slice(0, 600)}` : ''}`)
      if (r.code === 0) t.comment(JSON.stringify(parseReport(r)))
    })
  }
})

t.test('pre-5.19 cancel flags (-EINVAL): capabilities() is bounded and says unsupported', { skip: shimSkip || native[0][1] }, async (t) => {
  const r = await runWithFault('cancel_pre519', [CHILD, 'caps'], { timeoutMs: 15000 })
  t.equal(r.signal, null, 'returned before the 15 s kill')
  const rep = parseReport(r)
  t.comment(JSON.stringify(rep))
  t.ok(rep.ms < 5000, `capabilities() took ${rep.ms} ms`)
  t.equal(rep.available, true, 'io_uring itself is available')
  t.same(rep.cancelFlags, { all: false, fd: false, any: false, fdFixed: false, userdata: false, op: false }, 'every cancel flag reported unsupported')
  t.equal(rep.syncCancel, false, 'sync cancel unsupported')
})

t.test('partial submit then a transient failure: every read settles', { skip: shimSkip }, async (t) => {
  const file = dataFile('small.bin', 1 << 20)
  for (const [backend, skip] of native) {
    for (const err of ['EAGAIN', 'EBUSY']) {
      if (backend === 'libaio' && err === 'EBUSY') continue // io_submit does not return EBUSY
      await t.test(`${backend}: 1 of 2 accepted, then ${err}`, { skip }, async (t) => {
        const fault = backend === 'io_uring' ? 'uring_partial' : 'aio_partial'
        const r = await runWithFault(fault, [CHILD, 'partial', backend, file], { env: { DAIO_FAULT_ERRNO: err === 'EAGAIN' ? '11' : '16', DAIO_FAULT_LOG: '1' }, timeoutMs: 20000 })
        const rep = parseReport(r)
        t.match(r.stderr, /submit 1/, 'the shim made the kernel accept only one')
        t.same(rep.settled, [true, true], 'both reads settled')
        t.same(rep.results, [4096, 4096], 'both read 4096 bytes')
      })
    }
  }
})

t.test('close() with reads in the kernel and waits failing transiently', { skip: shimSkip || native[0][1] }, async (t) => {
  const file = dataFile('big.bin', 64 << 20)
  for (const err of [['EAGAIN', '11'], ['EINTR', '4'], ['EBADR', '53']]) {
    await t.test(`io_uring: ${err[0]} from the first 3 waits`, async (t) => {
      const r = await runWithFault('uring_wait_fail', [CHILD, 'close-inflight', 'io_uring', file], { env: { DAIO_FAULT_ERRNO: err[1], DAIO_FAULT_COUNT: '3' }, timeoutMs: 30000 })
      const rep = parseReport(r)
      t.comment(JSON.stringify(rep))
      t.equal(rep.submit, 16, 'the reads were submitted')
      t.equal(rep.changedAfterClose, false, 'the kernel wrote nothing into the buffer after close() returned')
      t.equal(rep.liveOps, 0, 'liveOps 0')
    })
  }
})

const noCongest = congestUnsupported()
t.test('libaio close() waiting on slow reads does not spin', { skip: native[1][1] || (noCongest ? `throttled device unavailable: ${noCongest}` : false) }, async (t) => {
  const dev = CongestedDevice.create({ sizeMiB: 64, readIops: 20 })
  t.teardown(() => dev.destroy())
  const r = await dev.run(CHILD, ['close-cpu', 'libaio', dev.loop], { timeoutMs: 30000 })
  const rep = parseReport(r)
  t.comment(JSON.stringify(rep))
  t.equal(rep.submit, 9, 'nine reads submitted')
  t.ok(rep.wallMs >= 50, `close() waited for the reads (${rep.wallMs.toFixed(0)} ms)`)
  // Blocking in io_getevents costs well under 1% here; the old poll() spin
  // measured 15-89% (less when other processes took the cores).
  t.ok(rep.cpuMs < 0.05 * rep.wallMs, `CPU ${rep.cpuMs.toFixed(1)} ms over ${rep.wallMs.toFixed(0)} ms of close() (< 5%)`)
  t.equal(rep.liveOps, 0, 'liveOps 0')
})

t.test('failed ring constructors leave liveRings at 0', { skip: seccompSkip() }, async (t) => {
  const r = await runUnderSeccomp({ uring: true }, [CHILD, 'liverings'], { timeoutMs: 20000 })
  const rep = parseReport(r)
  t.comment(JSON.stringify(rep))
  t.match(rep.errors[0], /unknown backend/, 'a bogus backend name throws')
  t.match(rep.errors[1], /not permitted|EPERM/i, 'io_uring refused by seccomp throws')
  t.equal(rep.native.liveRings, 0, 'liveRings 0')
  t.equal(rep.native.liveOps, 0, 'liveOps 0')
})
