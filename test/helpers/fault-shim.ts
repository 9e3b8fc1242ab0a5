// Build test/fixtures/fault-shim.c (an LD_PRELOAD library over syscall(2))
// once per test process, and run node children with it preloaded and one
// fault selected through DAIO_FAULT. See the C file for the faults.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { runNode, RunResult } from './seccomp'

const SOURCE = path.join(__dirname, '..', 'fixtures', 'fault-shim.c')

let built: { lib: string } | { skip: string } | null = null

function compile(): { lib: string } | { skip: string } {
  if (process.platform !== 'linux') return { skip: 'the fault shim is Linux-only' }
  const cc = process.env.CC || 'cc'
  let dir: string
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-shim-'))
  } catch (e) {
    return { skip: `no temp directory for the fault shim: ${(e as Error).message}` }
  }
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'fault-shim.so')
  try {
    execFileSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-o', out, SOURCE, '-ldl', '-lpthread'], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer }
    if (err.code === 'ENOENT') return { skip: `no C compiler ('${cc}' not found) to build the fault shim` }
    return { skip: `could not compile the fault shim: ${String(err.stderr ?? err.message).trim().split('\n')[0]}` }
  }
  return { lib: out }
}

/** The compiled shim's path, or why it cannot be used here. */
export function faultShim(): { lib: string } | { skip: string } {
  if (!built) built = compile()
  return built
}

export function faultShimSkip(): string | false {
  const b = faultShim()
  return 'skip' in b ? b.skip : false
}

/** Preload env for a fault (merged into the child's env). */
export function faultEnv(fault: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const b = faultShim()
  if ('skip' in b) throw new Error(b.skip)
  const preload = [process.env.LD_PRELOAD, b.lib].filter(Boolean).join(' ')
  return { LD_PRELOAD: preload, DAIO_FAULT: fault, ...extra }
}

/** Run `node ...args` (cwd: the repository) with the shim preloaded and `fault` selected. */
export function runWithFault(fault: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return runNode([process.execPath, ...args], { env: faultEnv(fault, options.env), timeoutMs: options.timeoutMs })
}
