// `direct-aio doctor`: the readable table, `--json`, advice for refusals
// (real ones under the seccomp launcher; the sysctl/ENOSYS/aio-max-nr/tmpfs
// branches through advise() with the capability values those kernels
// report), argument errors, and `--probe-cancel` on a real throttled loop
// device (root only).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { capabilities } from '../lib/index'
import type { Capabilities } from '../lib/index'
import { congestUnsupported } from '../cli/tools/congest'
import { advise, DoctorEnvironment, formatProbe } from '../cli/tools/doctor'
import type { ProbeCancelResult } from '../cli/tools/probe-cancel'
import { parseReport, runNode, runUnderSeccomp, seccompSkip } from './helpers/seccomp'

const BIN = 'bin/direct-aio.js'
const doctor = (args: string[], env: NodeJS.ProcessEnv = {}) => runNode([process.execPath, BIN, 'doctor', ...args], { env: { DIRECT_AIO_BACKEND: '', DIRECT_AIO_KERNEL_CANCEL: '', ...env } })
const caps = capabilities()

t.test('text output: a readable table', async (t) => {
  const r = await doctor([])
  t.equal(r.code, 0, 'exit 0')
  t.equal(r.stderr, '')
  const out = r.stdout
  t.match(out, /^direct-aio doctor\n/)
  t.match(out, new RegExp(`^kernel\\s+Linux ${caps.kernel.release.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'))
  if (caps.ioUring.available) {
    t.match(out, /^io_uring\s+available$/m)
    t.match(out, /^\s+features\s+0x[0-9a-f]+ \(\d+\): SINGLE_MMAP/m)
    t.match(out, new RegExp(`^\\s+opcodes\\s+${caps.ioUring.opcodes.length} supported`, 'm'))
    t.match(out, /READ yes, WRITE yes, READV yes, WRITEV yes, FSYNC yes, ASYNC_CANCEL yes/, 'the opcodes direct-aio uses')
    t.match(out, /^\s+cancel flags\s+\S/m)
    t.match(out, /^\s+sync cancel\s+(yes|no)/m)
  }
  t.match(out, /^\s+sysctl\s+kernel\.io_uring_disabled/m)
  t.match(out, /^libaio\s+(available|unavailable)/m)
  t.match(out, new RegExp(`^threadpool\\s+available, ${caps.threadpool.size} threads`, 'm'))
  t.match(out, new RegExp(`^'auto' picks\\s+${caps.backend}: `, 'm'))
  t.match(out, /^blockLayerCancel\s+false: /m)
  t.match(out, /^kernelCancel\s+'auto'/m)
  t.match(out, /^Advice/m)
  t.match(out, /\[tmpfs\]/, 'tmpfs advice')
  // Before 6.6, tmpfs refuses O_DIRECT: with os.tmpdir() on tmpfs there the
  // tmpfs advice is a warning, and "nothing refused" is not printed.
  const tmpRefused = /^O_DIRECT in \S+\s+no /m.test(out)
  if (caps.ioUring.available && caps.libaio.available && !tmpRefused) t.match(out, /nothing refused/)
  if (tmpRefused) t.match(out, /! \[tmpfs\] .* refuses O_DIRECT/, 'a tmpdir that refuses O_DIRECT is a warning')
})

t.test('--json: capabilities, environment and advice', async (t) => {
  const r = await doctor(['--json'])
  t.equal(r.code, 0)
  const j = parseReport(r)
  t.same(Object.keys(j).sort(), ['advice', 'capabilities', 'environment'])
  const c = j.capabilities as Capabilities
  t.same(c.kernel, caps.kernel)
  t.same(c.ioUring, caps.ioUring, 'ioUring as capabilities() reports it in-process')
  t.equal(c.libaio.available, caps.libaio.available)
  t.equal(c.libaio.maxEvents, caps.libaio.maxEvents)
  t.type(c.libaio.inUse, 'number')
  t.same(c.threadpool, caps.threadpool)
  t.equal(c.backend, caps.backend)
  t.equal(c.backendReason, caps.backendReason)
  t.equal(c.blockLayerCancel, false)
  t.equal(j.environment.kernelCancel, 'auto')
  t.type(j.environment.tmpdir.path, 'string')
  t.ok(Array.isArray(j.advice) && j.advice.length >= 1)
  for (const a of j.advice) {
    t.ok(['warn', 'info'].includes(a.level) && typeof a.topic === 'string' && a.message.length > 20, `advice ${a.topic}/${a.level}`)
  }
})

t.test('refusals under seccomp: the reason and the advice', { skip: seccompSkip() }, async (t) => {
  const j = parseReport(await runUnderSeccomp({ uring: true, aio: true }, [BIN, 'doctor', '--json']))
  t.equal(j.capabilities.ioUring.available, false)
  t.equal(j.capabilities.backend, 'threadpool')
  const topics = j.advice.filter((a: any) => a.level === 'warn').map((a: any) => a.topic)
  // (plus one for os.tmpdir() where it refuses O_DIRECT: tmpfs before Linux 6.6)
  const expected = ['io_uring', 'libaio', 'threadpool', ...(j.environment.tmpdir.direct === false ? ['tmpfs'] : [])]
  t.same(topics, expected, 'one warning per refusal, and one for running on the thread pool')
  const uring = j.advice.find((a: any) => a.topic === 'io_uring')
  if (j.capabilities.ioUring.disabledSysctl === 2) t.match(uring.message, 'sysctl kernel.io_uring_disabled=0')
  else t.match(uring.message, /seccomp.*io_uring_setup, io_uring_enter and io_uring_register.*or accept libaio/)
  t.match(j.advice.find((a: any) => a.topic === 'libaio').message, /io_setup is refused with EPERM \(seccomp\)/)

  const text = await runUnderSeccomp({ uring: true }, [BIN, 'doctor'])
  t.equal(text.code, 0)
  t.match(text.stdout, /^io_uring\s+unavailable: EPERM from io_uring_setup: blocked by seccomp or kernel\.io_uring_disabled=2$/m)
  t.match(text.stdout, /^'auto' picks\s+libaio: io_uring refused/m)
  t.match(text.stdout, /! \[io_uring\] .*seccomp profile/)
})

t.test('advice for each kind of refusal', async (t) => {
  const base = capabilities()
  const env: DoctorEnvironment = { DIRECT_AIO_BACKEND: null, DIRECT_AIO_KERNEL_CANCEL: null, UV_THREADPOOL_SIZE: null, tmpdir: { path: '/tmp', direct: true, detail: null }, kernelCancel: 'auto' }
  const noUring = (disabledSysctl: 0 | 1 | 2 | null, reason: string): Capabilities => ({
    ...base,
    ioUring: { ...base.ioUring, available: false, reason, disabledSysctl, features: [], featureBits: 0, opcodes: [] },
    backend: 'libaio',
  })
  const msg = (c: Capabilities, e = env, topic = 'io_uring') => advise(c, e).find((a) => a.topic === topic && a.level === 'warn')?.message ?? ''
  t.match(msg(noUring(2, 'EPERM from io_uring_setup: kernel.io_uring_disabled=2')), '`sysctl kernel.io_uring_disabled=0`', 'sysctl=2')
  t.match(msg(noUring(1, 'EPERM from io_uring_setup: kernel.io_uring_disabled=1 and this process is not in io_uring_group')), 'io_uring_group', 'sysctl=1')
  t.match(msg(noUring(0, 'EPERM from io_uring_setup: blocked by seccomp or kernel.io_uring_disabled=2')), /seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register/, 'seccomp')
  t.match(msg(noUring(null, 'ENOSYS from io_uring_setup: the kernel was built without io_uring')), 'no io_uring', 'ENOSYS')
  const aioFull: Capabilities = { ...base, libaio: { available: false, reason: 'EAGAIN from io_setup: fs.aio-max-nr is exhausted', maxEvents: 65536, inUse: 65536 } }
  t.match(msg(aioFull, env, 'libaio'), '`sysctl fs.aio-max-nr=1048576`', 'aio-max-nr exhausted')
  const aioNearly: Capabilities = { ...base, libaio: { available: true, reason: null, maxEvents: 65536, inUse: 64000 } }
  t.match(msg(aioNearly, env, 'libaio'), 'nearly used up', 'aio-max-nr nearly exhausted')
  t.match(msg(base, { ...env, tmpdir: { path: '/tmp', direct: false, detail: 'EINVAL' } }, 'tmpfs'), '{ direct: false }', 'tmpdir on tmpfs')
  t.match(msg(base, { ...env, DIRECT_AIO_KERNEL_CANCEL: 'trust', kernelCancel: 'trust' }, 'cancel'), '--probe-cancel', 'trust without a measured blockLayerCancel')
  if (base.ioUring.available && base.libaio.available) {
    t.same(advise(base, env).filter((a) => a.level === 'warn'), [], 'nothing to warn about on this machine')
  }
})

t.test('arguments', async (t) => {
  const help = await doctor(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--probe-cancel DIR/)
  t.match(help.stdout, /temporary backing image/, 'help explains the DIR argument')
  const bad = await doctor(['--bogus'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, "unknown option '--bogus'")
  const noDir = await doctor(['--probe-cancel'])
  t.equal(noDir.code, 2)
  t.match(noDir.stderr, /--probe-cancel needs DIR/)
  const badReads = await doctor(['--probe-cancel', '/var/tmp', '--reads', '0'])
  t.equal(badReads.code, 2)
})

/**
 * A copy of what the CLI needs (bin/, dist/, the addon, node-gyp-build), in a
 * fresh 0755 folder under the OS temp dir, so that another user can run it even
 * when the checkout sits in a folder only its owner can read (root's 0700 home,
 * a mktemp -d). The Node binary is copied too when that user cannot run it
 * where it is (a Node unpacked inside the checkout, as scripts/node-matrix.sh does).
 */
function copyForOtherUser(uid: number): { dir: string; node: string; bin: string } {
  const path = require('node:path') as typeof import('node:path')
  const os = require('node:os') as typeof import('node:os')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-other-user-'))
  fs.chmodSync(dir, 0o755)
  const root = path.join(__dirname, '..')
  const copy = (rel: string) => fs.cpSync(path.join(root, rel), path.join(dir, rel), { recursive: true, dereference: true })
  for (const rel of ['package.json', 'bin', 'dist', 'node_modules/node-gyp-build']) copy(rel)
  if (fs.existsSync(path.join(root, 'build/Release/direct_aio.node'))) copy('build/Release/direct_aio.node')
  if (fs.existsSync(path.join(root, 'prebuilds'))) copy('prebuilds')
  let node = process.execPath
  try {
    execFileSync('env', ['-u', 'NODE_OPTIONS', node, '-e', '0'], { uid, gid: uid, stdio: 'ignore' })
  } catch {
    node = path.join(dir, 'node')
    fs.copyFileSync(process.execPath, node)
  }
  execFileSync('chmod', ['-R', 'a+rX', dir])
  return { dir, node, bin: path.join(dir, BIN) }
}

t.test('--probe-cancel refuses without root', { skip: process.getuid?.() === 0 ? false : 'needs root to switch to an unprivileged user' }, async (t) => {
  const NOBODY = 65534
  const copy = copyForOtherUser(NOBODY)
  t.teardown(() => fs.rmSync(copy.dir, { recursive: true, force: true }))
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const { spawn } = require('node:child_process') as typeof import('node:child_process')
    // Through env -u: tap puts NODE_OPTIONS (an --import of a loader in the checkout,
    // unreadable to that user too) back into every child's environment.
    const c = spawn('env', ['-u', 'NODE_OPTIONS', copy.node, copy.bin, 'doctor', '--json', '--probe-cancel', '/var/tmp'], { uid: NOBODY, gid: NOBODY, cwd: copy.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d) => (stdout += d))
    c.stderr.on('data', (d) => (stderr += d))
    c.on('error', reject)
    c.on('close', (code) => resolve({ code, stdout, stderr }))
  })
  t.equal(r.code, 1, `exit 1${r.stderr ? ` (stderr: ${r.stderr.slice(0, 300)})` : ''}`)
  t.match(JSON.parse(r.stdout).probeCancel.error, /needs root/)
})

t.test('--probe-cancel on a throttled loop device', { skip: congestUnsupported() ?? false }, async (t) => {
  const N = 20
  const r = await doctor(['--json', '--probe-cancel', '/var/tmp', '--reads', String(N)])
  t.equal(r.code, 0, 'exit 0')
  t.match(r.stderr, /probe: building a \d+ MiB loop device/, 'progress on stderr')
  const j = parseReport(r)
  const p = j.probeCancel as ProbeCancelResult
  t.notOk('error' in p, 'the probe ran')
  t.match(p.device.loop, /^\/dev\/loop\d+$/)
  t.equal(p.device.readIops, 50)
  const labels = p.runs.map((x) => x.label)
  const expected = [caps.ioUring.available && 'io_uring', caps.libaio.available && 'libaio', 'threadpool', 'default'].filter(Boolean)
  t.same(labels, expected, 'one raw run per available backend, then the default')
  for (const run of p.runs) {
    t.equal(run.error, undefined, `${run.label}: no error`)
    const s = run.stages
    t.equal(s.completed + s.queued + s.kernel + s.issued + s.failed, N, `${run.label}: every read accounted for`)
    t.equal(s.failed, 0)
    t.ok(run.deviceReads <= N + 2, `${run.label}: ${run.deviceReads} device reads`)
  }
  const uring = p.runs.find((x) => x.label === 'io_uring')
  if (uring) {
    t.equal(uring.maxInFlight, N, 'raw run: maxInFlight N')
    t.ok(uring.entries >= N, 'raw run: entries >= N')
    t.equal(uring.inKernelAtAbort + uring.stages.completed, N, 'io_uring: every read went straight to the kernel')
    t.equal(uring.kernelCancels.sent, uring.inKernelAtAbort, 'one kernel cancel per in-flight read')
    t.ok(uring.deviceReads >= N - uring.stages.kernel, 'reads the kernel did not cancel reached the device')
  }
  const libaio = p.runs.find((x) => x.label === 'libaio')
  if (libaio) t.equal(libaio.kernelCancels.refused, libaio.kernelCancels.sent, 'libaio: every io_cancel refused')
  const tp = p.runs.find((x) => x.label === 'threadpool')!
  t.equal(tp.kernelCancels.sent, 0)
  t.ok(tp.inKernelAtAbort <= caps.threadpool.size)
  const def = p.runs.find((x) => x.label === 'default')!
  t.equal(def.maxInFlight, 'auto')
  t.ok(def.stages.queued > 0, 'the default depth keeps most reads in the queue, where the abort drops them')
  t.ok(def.deviceReads < N, `default: ${def.deviceReads} of ${N} reads reached the device`)
  t.equal(p.blockLayerCancel, false, 'stock kernel: no block-layer cancel')
  t.equal(j.capabilities.blockLayerCancel, false, 'and nothing was persisted into capabilities')
  t.match(p.verdict, /^blockLayerCancel stays false/)

  // Nothing left behind: no loop device on an image of ours, no cgroup, no image.
  t.notOk(fs.existsSync(p.device.image), 'backing image removed')
  t.notOk(fs.existsSync(p.device.cgroup), 'cgroup removed')
  t.notMatch(execFileSync('losetup', ['-a'], { encoding: 'utf8' }), p.device.image, 'loop device detached')
  t.same(fs.readdirSync('/var/tmp').filter((f) => f.startsWith('.direct-aio-probe-')), [], 'no probe files left')

  const text = formatProbe(p)
  t.match(text, /^Cancel probe: \/dev\/loop\d+/)
  t.match(text, /^\s+run\s+backend\s+depth\s+in kernel/m)
  t.match(text, /^\s+default\s+/m)
  t.match(text, /^blockLayerCancel stays false/m)
  t.comment(text)
})
