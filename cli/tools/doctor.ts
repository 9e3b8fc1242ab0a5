// `direct-aio doctor [--json] [--probe-cancel DIR]`: what this kernel and
// process offer, what `backend: 'auto'` picks and why, and what to do about
// each refusal. `--probe-cancel` measures (root only) whether the kernel's
// cancel keeps block-layer I/O off the device; see probe-cancel.ts.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { capabilities } from 'direct-aio'
import type { Capabilities } from 'direct-aio'
import type { ProbeCancelResult, ProbeRun } from './probe-cancel'

const HELP = `usage: direct-aio doctor [--json] [--probe-cancel DIR [--reads N] [--iops N]]

Print what this kernel and process offer for O_DIRECT I/O (io_uring, libaio,
the thread pool), which backend 'auto' picks and why, and what to do about
anything that was refused.

  --json              machine-readable output: { capabilities, environment, advice, probeCancel? }
  --probe-cancel DIR  (root) measure whether kernel cancellation keeps reads that
                      already reached the block layer off the device: builds a
                      throttled loop device whose temporary backing image goes in
                      DIR (a disk-backed directory that supports O_DIRECT, e.g.
                      /var/tmp), issues N reads through each backend, aborts them,
                      and counts the reads the device still did. Removes the
                      device, cgroup and image afterwards; persists nothing.
  --reads N           reads per probe run (default 100)
  --iops N            read IOPS the probe device is throttled to (default 50)
`

/** One piece of advice about a refusal or a risky setting. */
export interface Advice {
  level: 'warn' | 'info'
  topic: 'io_uring' | 'libaio' | 'threadpool' | 'override' | 'tmpfs' | 'cancel'
  message: string
}

export interface DoctorEnvironment {
  DIRECT_AIO_BACKEND: string | null
  DIRECT_AIO_KERNEL_CANCEL: string | null
  UV_THREADPOOL_SIZE: string | null
  /** Whether os.tmpdir() accepts O_DIRECT (tmpfs does not); null if it could not be tried. */
  tmpdir: { path: string; direct: boolean | null; detail: string | null }
  /** The kernelCancel policy a default IoContext gets. */
  kernelCancel: 'auto' | 'trust' | 'never'
}

export interface DoctorReport {
  capabilities: Capabilities
  environment: DoctorEnvironment
  advice: Advice[]
  probeCancel?: ProbeCancelResult | { error: string }
}

/** The opcodes direct-aio issues (plus the cancel). */
export const OPCODES_USED = ['READ', 'WRITE', 'READV', 'WRITEV', 'FSYNC', 'ASYNC_CANCEL'] as const

/** An environment variable, with empty treated as unset (as the library does). */
function env(name: string): string | null {
  const v = process.env[name]
  return v === undefined || v === '' ? null : v
}

/** Try O_DIRECT in `dir` with a throwaway file (removed at once). */
function directIn(dir: string): { direct: boolean | null; detail: string | null } {
  const probe = path.join(dir, `.direct-aio-doctor-${process.pid}-${Date.now()}`)
  try {
    const fd = fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR | fs.constants.O_DIRECT, 0o600)
    fs.closeSync(fd)
    return { direct: true, detail: null }
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'EINVAL') return { direct: false, detail: 'EINVAL at open: this filesystem has no O_DIRECT (tmpfs?)' }
    return { direct: null, detail: `${err.code ?? 'error'}: could not try (${err.message})` }
  } finally {
    try {
      fs.rmSync(probe, { force: true })
    } catch {
      // nothing to remove
    }
  }
}

export function environment(): DoctorEnvironment {
  const kc = env('DIRECT_AIO_KERNEL_CANCEL')
  const tmp = os.tmpdir()
  return {
    DIRECT_AIO_BACKEND: env('DIRECT_AIO_BACKEND'),
    DIRECT_AIO_KERNEL_CANCEL: kc,
    UV_THREADPOOL_SIZE: env('UV_THREADPOOL_SIZE'),
    tmpdir: { path: tmp, ...directIn(tmp) },
    kernelCancel: kc === 'trust' || kc === 'never' ? kc : 'auto',
  }
}

/** What to do about each refusal or risky setting in `caps`. */
export function advise(caps: Capabilities, envr: DoctorEnvironment): Advice[] {
  const out: Advice[] = []
  const u = caps.ioUring
  if (!u.available) {
    const r = u.reason ?? ''
    if (u.disabledSysctl === 2) {
      out.push({ level: 'warn', topic: 'io_uring', message: 'io_uring is disabled system-wide (kernel.io_uring_disabled=2). To enable it: `sysctl kernel.io_uring_disabled=0` (as root; persist in /etc/sysctl.d/ if wanted), or accept libaio.' })
    } else if (u.disabledSysctl === 1 && r.startsWith('EPERM')) {
      out.push({ level: 'warn', topic: 'io_uring', message: 'io_uring is limited to the group in kernel.io_uring_group (kernel.io_uring_disabled=1). Run as a member of that group, or `sysctl kernel.io_uring_disabled=0`, or accept libaio.' })
    } else if (r.startsWith('EPERM')) {
      out.push({ level: 'warn', topic: 'io_uring', message: "io_uring_setup is refused with EPERM and the sysctl allows it, so a seccomp filter blocks it (Docker's and Kubernetes' default profiles do). Run with a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register (e.g. docker run --security-opt seccomp=PROFILE.json), or accept libaio." })
    } else if (r.startsWith('ENOSYS')) {
      out.push({ level: 'warn', topic: 'io_uring', message: 'This kernel (or sandbox, e.g. gVisor) has no io_uring. Nothing to configure: libaio or the thread pool is used.' })
    } else if (r.startsWith('ENOMEM')) {
      out.push({ level: 'warn', topic: 'io_uring', message: 'The ring could not be allocated: raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= in the systemd unit), or use a kernel >= 5.12, which charges rings to memory cgroups instead.' })
    } else {
      out.push({ level: 'warn', topic: 'io_uring', message: `io_uring is refused (${r}); libaio or the thread pool is used.` })
    }
  } else {
    const ops = new Set(u.opcodes.map((o) => o.name))
    const missing = OPCODES_USED.filter((n) => !ops.has(n))
    if (missing.length) out.push({ level: 'warn', topic: 'io_uring', message: `io_uring lacks ${missing.join(', ')} (kernel older than 5.6?): upgrade the kernel, or set DIRECT_AIO_BACKEND=libaio.` })
  }
  const a = caps.libaio
  if (!a.available) {
    const r = a.reason ?? ''
    if (r.startsWith('EAGAIN')) {
      out.push({ level: 'warn', topic: 'libaio', message: `fs.aio-max-nr is exhausted (${a.inUse ?? '?'} of ${a.maxEvents ?? '?'} events in use): raise it with \`sysctl fs.aio-max-nr=1048576\`, or close unused AIO contexts.` })
    } else if (r.startsWith('EPERM')) {
      out.push({ level: 'warn', topic: 'libaio', message: 'io_setup is refused with EPERM (seccomp): allow io_setup, io_submit, io_getevents, io_cancel and io_destroy in the seccomp profile, or accept the thread pool.' })
    } else {
      out.push({ level: 'warn', topic: 'libaio', message: `libaio is refused (${r}).` })
    }
  } else if (a.maxEvents !== null && a.inUse !== null && a.maxEvents - a.inUse < 4096) {
    out.push({ level: 'warn', topic: 'libaio', message: `fs.aio-max-nr is nearly used up (${a.inUse} of ${a.maxEvents}): new libaio contexts will fail with EAGAIN. Raise it with \`sysctl fs.aio-max-nr=1048576\`.` })
  }
  if (caps.backend === 'threadpool' && !env('DIRECT_AIO_BACKEND')) {
    out.push({ level: 'warn', topic: 'threadpool', message: `Only the thread pool is left: at most ${caps.threadpool.size} requests run at once (UV_THREADPOOL_SIZE, default 4), and no request can be cancelled once it runs. Fix one of the refusals above to get a kernel queue.` })
  }
  const names = caps.backends.map((b) => b.name)
  const wanted = envr.DIRECT_AIO_BACKEND
  const invalid = wanted !== null && wanted !== 'auto' && !(names as string[]).includes(wanted) ? wanted : null
  if (invalid !== null) {
    out.push({ level: 'warn', topic: 'override', message: `DIRECT_AIO_BACKEND='${invalid}' names no backend: every new IoContext() throws. Set it to ${names.join(', ')} or auto, or unset it.` })
  } else if (envr.DIRECT_AIO_BACKEND && envr.DIRECT_AIO_BACKEND !== 'auto') {
    const b = caps.backend
    const refused = caps.backends.find((x) => x.name === b)?.reason ?? null
    if (refused) out.push({ level: 'warn', topic: 'override', message: `DIRECT_AIO_BACKEND=${b}, which is unavailable here (${refused}): every new IoContext() throws. Unset it to let 'auto' choose.` })
    else out.push({ level: 'info', topic: 'override', message: `DIRECT_AIO_BACKEND=${b} overrides 'auto'.` })
  }
  const kcEnv = envr.DIRECT_AIO_KERNEL_CANCEL
  if (kcEnv !== null && kcEnv !== 'auto' && kcEnv !== 'trust' && kcEnv !== 'never') {
    out.push({ level: 'warn', topic: 'cancel', message: `DIRECT_AIO_KERNEL_CANCEL='${kcEnv}' is not auto, trust or never, and is ignored.` })
  }
  if (envr.kernelCancel === 'trust' && !caps.blockLayerCancel) {
    out.push({ level: 'warn', topic: 'cancel', message: "DIRECT_AIO_KERNEL_CANCEL=trust lets the in-kernel depth grow to the ring size, but this kernel is not known to cancel I/O in the block layer: aborted requests will still reach the device. Use it only if `direct-aio doctor --probe-cancel DIR` said yes." })
  }
  if (envr.tmpdir.direct === false) {
    out.push({ level: 'warn', topic: 'tmpfs', message: `${envr.tmpdir.path} (os.tmpdir()) refuses O_DIRECT (tmpfs). Keep data files on a disk-backed filesystem (e.g. /var/tmp), or open files there with { direct: false } for buffered I/O.` })
  } else {
    out.push({ level: 'info', topic: 'tmpfs', message: 'open() refuses direct I/O on tmpfs (/dev/shm, often /tmp) with EINVAL (before Linux 6.6 the kernel refuses O_DIRECT there; since then it accepts it but serves it from the page cache): open such files with { direct: false }.' })
  }
  return out
}

/** Capabilities, environment and advice: what `doctor --json` prints (without the probe). */
export function report(): DoctorReport {
  const caps = capabilities()
  const envr = environment()
  return { capabilities: caps, environment: envr, advice: advise(caps, envr) }
}

// ---- text output -------------------------------------------------------------

const yesNo = (b: boolean): string => (b ? 'yes' : 'no')

function rows(pairs: Array<[string, string]>, indent = ''): string {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 2
  return pairs.map(([k, v]) => `${indent}${k.padEnd(w)}${v}`).join('\n')
}

function ranges(nums: number[]): string {
  const out: string[] = []
  for (let i = 0; i < nums.length; ) {
    let j = i
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++
    out.push(i === j ? `${nums[i]}` : `${nums[i]}-${nums[j]}`)
    i = j + 1
  }
  return out.join(',')
}

export function formatText(r: DoctorReport): string {
  const c = r.capabilities
  const u = c.ioUring
  const lines: string[] = ['direct-aio doctor', '']
  const pairs: Array<[string, string]> = [['kernel', `Linux ${c.kernel.release} (${c.kernel.version.join('.')})`]]
  pairs.push(['io_uring', u.available ? 'available' : `unavailable: ${u.reason}`])
  pairs.push(['  sysctl', u.disabledSysctl === null ? 'kernel.io_uring_disabled not present' : `kernel.io_uring_disabled = ${u.disabledSysctl}`])
  if (u.available) {
    pairs.push(['  features', `0x${u.featureBits.toString(16)} (${u.features.length}): ${u.features.join(' ')}`])
    const names = new Set(u.opcodes.map((o) => o.name))
    pairs.push(['  opcodes', `${u.opcodes.length} supported (${ranges(u.opcodes.map((o) => o.op))}); ${OPCODES_USED.map((n) => `${n} ${yesNo(names.has(n))}`).join(', ')}`])
    const cf = u.cancelFlags
    const flagList: Array<[string, boolean]> = [['ALL', cf.all], ['FD', cf.fd], ['ANY', cf.any], ['FD_FIXED', cf.fdFixed], ['USERDATA', cf.userdata], ['OP', cf.op]]
    const ok = flagList.filter(([, v]) => v).map(([k]) => k)
    const no = flagList.filter(([, v]) => !v).map(([k]) => k)
    pairs.push(['  cancel flags', `${ok.length ? ok.join(' ') : 'none'}${no.length ? ` (refused: ${no.join(' ')})` : ''}`])
    pairs.push(['  sync cancel', `${yesNo(u.syncCancel)} (IORING_REGISTER_SYNC_CANCEL)`])
  }
  const a = c.libaio
  pairs.push(['libaio', `${a.available ? 'available' : `unavailable: ${a.reason}`} (fs.aio-nr ${a.inUse ?? '?'} of fs.aio-max-nr ${a.maxEvents ?? '?'})`])
  pairs.push(['threadpool', `available, ${c.threadpool.size} threads (UV_THREADPOOL_SIZE${r.environment.UV_THREADPOOL_SIZE === null ? ' unset' : `=${r.environment.UV_THREADPOOL_SIZE}`})`])
  pairs.push(["'auto' picks", `${c.backend}: ${c.backendReason}`])
  pairs.push([
    'blockLayerCancel',
    c.blockLayerCancel
      ? 'true: the kernel cancels I/O already in the block layer'
      : 'false: no kernel cancel reaches I/O already in the block layer; aborts are effective while requests wait in direct-aio\'s queue',
  ])
  pairs.push(['kernelCancel', `'${r.environment.kernelCancel}' for new contexts${r.environment.DIRECT_AIO_KERNEL_CANCEL === null ? '' : ` (DIRECT_AIO_KERNEL_CANCEL=${r.environment.DIRECT_AIO_KERNEL_CANCEL})`}`])
  const t = r.environment.tmpdir
  pairs.push([`O_DIRECT in ${t.path}`, t.direct === null ? `unknown (${t.detail})` : t.direct ? 'yes' : `no (${t.detail})`])
  lines.push(rows(pairs))
  const warn = r.advice.filter((x) => x.level === 'warn')
  const info = r.advice.filter((x) => x.level === 'info')
  lines.push('', warn.length ? 'Advice' : 'Advice: nothing refused; nothing to do.')
  for (const x of warn) lines.push(`  ! [${x.topic}] ${x.message}`)
  for (const x of info) lines.push(`  - [${x.topic}] ${x.message}`)
  if (r.probeCancel) lines.push('', formatProbe(r.probeCancel))
  return lines.join('\n') + '\n'
}

function answers(k: ProbeRun['kernelCancels']): string {
  if (k.sent === 0) return 'none sent'
  return `${k.sent} sent: ${k.cancelled} cancelled, ${k.notFound} ENOENT, ${k.alreadyRunning} EALREADY, ${k.refused} refused`
}

export function formatProbe(p: ProbeCancelResult | { error: string }): string {
  if ('error' in p) return `Cancel probe failed: ${p.error}`
  const d = p.device
  const n = p.runs[0]?.reads ?? 0
  const lines = [
    `Cancel probe: ${d.loop} (${d.imageMiB} MiB image in ${d.imageDir}, nr_requests ${d.nrRequests ?? '?'}), throttled to ${d.readIops} read IOPS; ${n} x 4 KiB reads per run, aborted after they were issued`,
  ]
  const head = ['run', 'backend', 'depth', 'in kernel', 'in block layer', 'completed', 'queued', 'kernel', 'issued', 'kernel cancel answers', 'device reads', 'settle']
  const table = p.runs.map((r) => [
    r.label,
    r.backend ?? '?',
    String(r.maxInFlight),
    String(r.inKernelAtAbort),
    r.bioSubmittedAtAbort === null ? '?' : String(r.bioSubmittedAtAbort),
    String(r.stages.completed),
    String(r.stages.queued),
    String(r.stages.kernel),
    String(r.stages.issued),
    answers(r.kernelCancels),
    `${r.deviceReads}/${r.reads}`,
    `${Math.round(r.settleMaxMs)} ms`,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)))
  const fmt = (row: string[]) => '  ' + row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
  lines.push(fmt(head))
  for (const row of table) lines.push(fmt(row))
  for (const r of p.runs) if (r.stages.failed || r.error) lines.push(`  ${r.label}: ${r.stages.failed} failed${r.error ? `: ${r.error}` : ''}`)
  lines.push(
    "  completed: finished before the abort; queued/kernel/issued: AbortError.stage; in block layer: bios submitted by the abort (blkio.throttle.io_serviced)",
  )
  for (const r of p.runs) {
    if (r.error || r.label === 'default' || typeof r.maxInFlight !== 'number' || r.inKernelAtAbort + r.stages.completed >= r.reads) continue
    const why =
      r.backend === 'threadpool'
        ? 'the thread pool runs at most UV_THREADPOOL_SIZE at once'
        : r.backend === 'libaio'
          ? `libaio's in-kernel depth is kept below nr_requests${d.nrRequests ? ` (${d.nrRequests})` : ''}, since io_submit blocks when the device queue is full`
          : 'the ring or device queue was full'
    lines.push(`  ${r.label}: ${r.inKernelAtAbort} of ${r.reads} in flight at the abort: ${why}`)
  }
  lines.push(p.verdict)
  return lines.join('\n')
}

// ---- command -------------------------------------------------------------------

interface Args {
  json: boolean
  probeDir: string | null
  reads: number
  iops: number
  help: boolean
}

function parse(argv: string[]): Args | string {
  const a: Args = { json: false, probeDir: null, reads: 100, iops: 50, help: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = (): string | null => {
      const eq = arg.indexOf('=')
      if (eq > 0) return arg.slice(eq + 1)
      const v = argv[i + 1]
      if (v === undefined || v.startsWith('--')) return null
      i++
      return v
    }
    const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg
    if (name === '--json') a.json = true
    else if (name === '-h' || name === '--help') a.help = true
    else if (name === '--probe-cancel') {
      const v = value()
      if (!v) return '--probe-cancel needs DIR: a disk-backed directory (O_DIRECT-capable, e.g. /var/tmp) for the temporary backing image of the probe device'
      a.probeDir = v
    } else if (name === '--reads' || name === '--iops') {
      const v = Number(value())
      const max = name === '--reads' ? 4096 : 100000
      if (!Number.isInteger(v) || v < 1 || v > max) return `${name} needs an integer from 1 to ${max}`
      if (name === '--reads') a.reads = v
      else a.iops = v
    } else return `unknown option '${arg}'`
  }
  return a
}

export async function doctor(argv: string[]): Promise<number> {
  const args = parse(argv)
  if (typeof args === 'string') {
    process.stderr.write(`direct-aio doctor: ${args}\n\n${HELP}`)
    return 2
  }
  if (args.help) {
    process.stdout.write(HELP)
    return 0
  }
  const r = report()
  let code = 0
  if (args.probeDir !== null) {
    const { probeCancel } = await import('./probe-cancel')
    try {
      r.probeCancel = await probeCancel({
        dir: path.resolve(args.probeDir),
        reads: args.reads,
        readIops: args.iops,
        log: (line) => process.stderr.write(`probe: ${line}\n`),
      })
      if (r.probeCancel.runs.some((run) => run.error)) code = 1
    } catch (e) {
      r.probeCancel = { error: (e as Error).message }
      code = 1
    }
  }
  process.stdout.write(args.json ? JSON.stringify(r, null, 2) + '\n' : formatText(r))
  return code
}
