// `direct-aio <command>`: doctor, demo. Everything here uses only the
// public API (`import ... from 'direct-aio'`, the package's own exports).
// The benchmarks are not a subcommand: they live in bench/, which is not
// published, and run from a clone with `npm run bench`.

const USAGE = `usage: direct-aio <command> [options]

commands:
  doctor [--json] [--probe-cancel PATH]   what this kernel offers, what 'auto' picks and why
  demo                                    direct I/O at several depths, then a mass abort

Benchmarks: clone the repository and run \`npm run bench\`.
`

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'doctor':
      return (await import('./tools/doctor')).doctor(rest)
    case 'demo':
      return (await import('./tools/demo')).demo(rest)
    case 'bench':
      process.stderr.write('The benchmarks are not part of the published package: clone the repository and run `npm run bench`.\n')
      return 1
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
