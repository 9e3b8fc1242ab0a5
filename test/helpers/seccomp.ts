// Build test/fixtures/seccomp-launcher.c once per test process (with `cc`)
// and run commands under it, so that io_uring (and optionally native AIO)
// is refused with EPERM the way Docker's default seccomp profile refuses it.
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const SOURCE = path.join(__dirname, '..', 'fixtures', 'seccomp-launcher.c')
export const ROOT = path.join(__dirname, '..', '..')

let built: { launcher: string } | { skip: string } | null = null

function compile(): { launcher: string } | { skip: string } {
  if (process.platform !== 'linux') return { skip: 'seccomp filters are Linux-only' }
  if (process.arch !== 'x64' && process.arch !== 'arm64') return { skip: `the launcher supports x86_64 and aarch64, not ${process.arch}` }
  const cc = process.env.CC || 'cc'
  // /tmp may be mounted noexec: try a disk-backed directory too.
  let lastError = ''
  for (const base of [os.tmpdir(), '/var/tmp']) {
    let dir: string
    try {
      dir = fs.mkdtempSync(path.join(base, 'direct-aio-seccomp-'))
    } catch {
      continue
    }
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
    const out = path.join(dir, 'seccomp-launcher')
    try {
      execFileSync(cc, ['-O2', '-Wall', '-o', out, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] })
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer }
      if (err.code === 'ENOENT') return { skip: `no C compiler ('${cc}' not found) to build the seccomp launcher` }
      return { skip: `could not compile the seccomp launcher: ${String(err.stderr ?? err.message).trim().split('\n')[0]}` }
    }
    // Check that the filter installs and the exec works (seccomp may be
    // compiled out, or the directory mounted noexec).
    try {
      execFileSync(out, ['--uring', '--', process.execPath, '-e', '0'], { stdio: ['ignore', 'ignore', 'pipe'] })
      return { launcher: out }
    } catch (e) {
      const err = e as { status?: number; stderr?: Buffer; message: string }
      lastError = String(err.stderr ?? err.message).trim().split('\n')[0]
      if (err.status === 126) return { skip: `the kernel refused the seccomp filter: ${lastError}` }
    }
  }
  return { skip: `could not run the seccomp launcher: ${lastError || 'no writable temp directory'}` }
}

/** The compiled launcher's path, or why it cannot be used here (a skip reason). */
export function seccompLauncher(): { launcher: string } | { skip: string } {
  if (!built) built = compile()
  return built
}

/** The skip reason for tests that need the launcher, or false. */
export function seccompSkip(): string | false {
  const b = seccompLauncher()
  return 'skip' in b ? b.skip : false
}

export interface Blocked {
  /** io_uring_setup/enter/register fail (default true). */
  uring?: boolean
  /** io_setup/io_submit fail (default false). */
  aio?: boolean
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run `node ...args` (cwd: the repository) with the chosen syscalls refused with EPERM. */
export function runUnderSeccomp(blocked: Blocked, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const b = seccompLauncher()
  if ('skip' in b) return Promise.reject(new Error(b.skip))
  const flags: string[] = []
  if (blocked.uring ?? true) flags.push('--uring')
  if (blocked.aio) flags.push('--aio')
  return runNode([b.launcher, ...flags, '--', process.execPath, ...args], options)
}

/** Run a command (argv[0] is the program) and collect its output. */
export function runNode(argv: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Parse a child's JSON report, failing with its stderr if it printed none. */
export function parseReport<T = any>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`child exited with ${r.signal ?? r.code} and no JSON report:\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 4000)}`)
  }
}
