// The published types, as a TypeScript user sees them. Declarations are built
// from lib/ into a scratch node_modules/direct-aio (tsc + scripts/build-esm.js,
// as `npm run build` does), next to a copy of package.json with its exports
// map. test/fixtures/types-consumer/consumer.ts is then type-checked with
// `tsc --noEmit --strict` (plus exactOptionalPropertyTypes and
// noUncheckedIndexedAccess; the nodenext run has skipLibCheck off, so the
// published .d.ts/.d.mts files themselves are checked too):
//   - module commonjs: consumer.ts, resolved through "types" (index.d.ts);
//   - module nodenext: consumer.mts through the "import" condition
//     (index.d.mts) and consumer.cts through "require" (index.d.ts).
import t from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { execFile, spawnSync } from 'node:child_process'

const root = path.resolve(__dirname, '..')
const fixture = path.join(root, 'test', 'fixtures', 'types-consumer')
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })

function run(args: string[], cwd: string) {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000 })
}

/** Like run(), without blocking, so the two tsc runs share the machine's cores. */
function start(args: string[], cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-types-'))
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
const consumer = path.join(work, 'consumer')
const pkg = path.join(consumer, 'node_modules', 'direct-aio')

const CONFIGS = [
  ['tsconfig.cjs.json', 'dist/index.d.ts'],
  ['tsconfig.esm.json', 'dist/index.d.mts'],
] as const
const checks = new Map<string, ReturnType<typeof start>>()

t.before(() => {
  fs.cpSync(fixture, consumer, { recursive: true })
  const body = fs.readFileSync(path.join(consumer, 'consumer.ts'), 'utf8')
  fs.writeFileSync(path.join(consumer, 'consumer.mts'), body)
  fs.writeFileSync(path.join(consumer, 'consumer.cts'), body)
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'))
  fs.mkdirSync(path.join(consumer, 'node_modules', '@types'), { recursive: true })
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(consumer, 'node_modules', '@types', 'node'))
  const dts = run([tsc, '-p', path.join(root, 'tsconfig.json'), '--outDir', path.join(pkg, 'dist'), '--emitDeclarationOnly'], root)
  if (dts.status !== 0) throw new Error(`building declarations failed:\n${dts.stdout}${dts.stderr}`)
  const esm = run([path.join(root, 'scripts', 'build-esm.js'), path.join(pkg, 'dist')], root)
  if (esm.status !== 0) throw new Error(`build-esm failed:\n${esm.stdout}${esm.stderr}`)
  for (const [config] of CONFIGS) checks.set(config, start([tsc, '-p', config, '--noEmit', '--strict', '--explainFiles'], consumer))
})

/** Files tsc pulled in from the package, relative to it. */
function packageFiles(explain: string): string[] {
  const files = new Set<string>()
  for (const line of explain.split('\n')) {
    const m = /node_modules\/direct-aio\/(\S+\.d\.[mc]?ts)$/.exec(line.trim())
    if (m) files.add(m[1])
  }
  return [...files].sort()
}

for (const [config, entry] of CONFIGS) {
  t.test(`${config} type-checks under --strict`, async (t) => {
    const r = await checks.get(config)!
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l))
    t.same(errors, [], 'no type errors (and every @ts-expect-error is an error)')
    t.equal(r.status, 0, 'tsc exits 0')
    const used = packageFiles(r.stdout)
    t.ok(used.includes(entry), `resolves direct-aio to ${entry}`, { used })
    if (config === 'tsconfig.cjs.json') t.notOk(used.includes('dist/index.d.mts'), 'commonjs never sees the .d.mts')
  })
}

t.test('a misuse in the consumer is reported', async (t) => {
  // Guards the guard: the fixture is really checked against direct-aio's types.
  const bad = path.join(consumer, 'bad.ts')
  fs.writeFileSync(bad, "import { AbortError } from 'direct-aio'\nexport const s: 'queued' = new AbortError('issued', 0, [], null).stage\n")
  t.teardown(() => fs.rmSync(bad, { force: true }))
  const r = run([tsc, '--noEmit', '--strict', '--module', 'commonjs', '--target', 'ES2022', '--types', 'node', '--skipLibCheck', 'bad.ts'], consumer)
  t.not(r.status, 0)
  t.match(r.stdout, /bad\.ts.*error TS2322/, 'AbortStage is a union, not string')
})
