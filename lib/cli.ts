// `direct-aio <command>`: doctor, demo, bench.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'

const USAGE = `usage: direct-aio <command> [options]

commands:
  doctor [--json] [--probe-cancel PATH]   what this kernel offers, what 'auto' picks and why
  demo                                    direct I/O at several depths, then a mass abort
  bench [--quick] [--dir DIR]             benchmarks (from a clone of the repository)
`

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'doctor':
      return (await import('./tools/doctor')).doctor(rest)
    case 'demo':
      return (await import('./tools/demo')).demo(rest)
    case 'bench': {
      const root = path.join(__dirname, '..')
      const entry = path.join(root, 'bench', 'index.ts')
      if (!fs.existsSync(entry)) {
        console.error('The benchmarks are not part of the published package: clone the repository and run `npm run bench`.')
        return 1
      }
      const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs')
      const r = spawnSync(process.execPath, [tsx, entry, ...rest], { stdio: 'inherit' })
      return r.status ?? 1
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return cmd === undefined ? 1 : 0
    default:
      process.stderr.write(`unknown command '${cmd}'\n${USAGE}`)
      return 1
  }
}
