// The published package, as a user gets it: `npm pack`, then install the
// tarball into a fresh project (a) with no compiler on PATH, which must load
// the committed prebuild, and (b) with the prebuild removed and compilers
// present, which must build from source. In each: require() and import() give
// the same classes, a write/read/abort round trip works, and
// `npx direct-aio doctor` runs. Also: the tarball's file list, the committed
// prebuild's freshness and glibc needs, and the one-sentence error on a
// platform other than Linux.
import t from 'tap'
import type { Test } from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawnSync, SpawnSyncReturns } from 'node:child_process'
import { scratchDir } from './helpers/tmp'

const root = path.resolve(__dirname, '..')
// eslint-disable-next-line @typescript-eslint/no-require-imports
const prebuild = require('../scripts/prebuild.js') as {
  sourceHash(): string
  symbolVersions(file: string): { glibc: string | null; glibcxx: string | null; needed: string[] } | null
  compareVersions(a: string, b: string): number
  MAX_GLIBC: string
  MAX_GLIBCXX: string
}

const npmCli = (() => {
  // npm's own entry point, so npm runs with whatever PATH we give it.
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ]
  const viaPath = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim()
  if (viaPath) candidates.push(fs.realpathSync(viaPath))
  return candidates.find((c) => fs.existsSync(c)) ?? null
})()

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): SpawnSyncReturns<string> & { ms: number } {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeout ?? 120_000, maxBuffer: 64 << 20 })
  return Object.assign(r, { ms: performance.now() - t0 })
}

function npm(args: string[], cwd: string, env?: NodeJS.ProcessEnv, timeout?: number) {
  return run(process.execPath, [npmCli!, ...args], { cwd, env, timeout })
}

function tail(s: string | null | undefined, n = 2000): string {
  return (s ?? '').slice(-n)
}

const offline = (r: SpawnSyncReturns<string>) => /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ENETUNREACH|ETIMEDOUT|ENOTCACHED/.test(`${r.stdout}${r.stderr}`)

/** Headers of the running Node.js, so a build from source needs no download. */
function nodedirEnv(): NodeJS.ProcessEnv {
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (process.env.npm_config_nodedir || !fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return {}
  return { npm_config_nodedir: prefix }
}

const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'python3', 'python']
const BASIC_TOOLS = [
  'sh', 'bash', 'dash', 'env', 'mkdir', 'rm', 'rmdir', 'cp', 'mv', 'ln', 'ls', 'cat', 'chmod', 'touch', 'sed', 'grep',
  'tar', 'gzip', 'uname', 'dirname', 'basename', 'readlink', 'realpath', 'head', 'tail', 'sort', 'tr', 'wc', 'id', 'true', 'false',
]

/** A directory of symlinks to basic tools plus node/npm/npx, and none of COMPILERS. */
function noCompilerPath(dir: string): string {
  fs.mkdirSync(dir, { recursive: true })
  const which = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim()
  for (const tool of BASIC_TOOLS) {
    const p = which(tool)
    if (p && p.startsWith('/')) fs.symlinkSync(p, path.join(dir, tool))
  }
  fs.symlinkSync(process.execPath, path.join(dir, 'node'))
  const npmBin = path.dirname(npmCli!)
  fs.symlinkSync(npmCli!, path.join(dir, 'npm'))
  if (fs.existsSync(path.join(npmBin, 'npx-cli.js'))) fs.symlinkSync(path.join(npmBin, 'npx-cli.js'), path.join(dir, 'npx'))
  return dir
}

// The user's program, CommonJS flavour: every export, import() identity, and
// a write/read/abort round trip on an O_DIRECT file.
const CHECK_CJS = `
'use strict'
const crypto = require('node:crypto')
const path = require('node:path')
const dio = require('direct-aio')
const { open, allocAligned, AbortError, IoContext, capabilities } = dio
;(async () => {
  const esm = await import('direct-aio')
  const out = {}
  out.cjsNames = Object.keys(dio).filter((k) => k !== '__esModule').sort()
  out.esmNames = Object.keys(esm).filter((k) => k !== 'default' && k !== 'module.exports').sort()
  out.sameClasses = out.cjsNames.every((k) => esm[k] === dio[k])
  out.binding = require('node-gyp-build').path(path.dirname(require.resolve('direct-aio/package.json')))
  out.backend = capabilities().backend
  const ctx = new IoContext()
  const f = await open(path.join(process.argv[2], 'cjs.bin'), 'w+', { context: ctx })
  const w = allocAligned(1 << 20)
  crypto.randomFillSync(w)
  out.written = (await f.write(w, 0, w.length, 0)).bytesWritten
  const r = allocAligned(1 << 20)
  out.read = (await f.read(r, 0, r.length, 0)).bytesRead
  out.equal = Buffer.compare(r, w) === 0
  // Aborted in the same tick they were issued: still in direct-aio's queue.
  const ac = new AbortController()
  const reads = []
  for (let i = 0; i < 64; i++) reads.push(f.read(allocAligned(4096), { position: i * 4096, signal: ac.signal }))
  ac.abort(new Error('stop'))
  const settled = await Promise.allSettled(reads)
  out.abortStages = {}
  for (const s of settled) {
    const k = s.status === 'fulfilled' ? 'fulfilled' : s.reason instanceof AbortError ? s.reason.stage : s.reason.code || String(s.reason)
    out.abortStages[k] = (out.abortStages[k] || 0) + 1
  }
  const first = settled[0].reason
  out.abortShape = first && { name: first.name, code: first.code, bytesTransferred: first.bytesTransferred, ranges: first.ranges, cause: first.cause && first.cause.message }
  try {
    await f.read(allocAligned(4096), { position: 0, signal: AbortSignal.abort() })
    out.preAborted = 'resolved'
  } catch (e) {
    out.preAborted = e instanceof AbortError ? e.stage : String(e)
  }
  out.afterAbort = (await f.read(allocAligned(4096), 0, 4096, 0)).bytesRead
  await f.close()
  await ctx.close()
  out.stats = ctx.stats().requests
  console.log(JSON.stringify(out))
})().catch((e) => { console.error(e); process.exit(1) })
`

// The same from an ES module, with static imports.
const CHECK_ESM = `
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { open, allocAligned, AbortError, IoContext } from 'direct-aio'
import * as ns from 'direct-aio'
const require = createRequire(import.meta.url)
const cjs = require('direct-aio')
const out = { names: Object.keys(ns).sort() }
out.sameClasses = out.names.every((k) => ns[k] === cjs[k]) && IoContext === cjs.IoContext && AbortError === cjs.AbortError
const f = await open(path.join(process.argv[2], 'esm.bin'), 'w+')
const w = allocAligned(65536).fill(7)
out.written = (await f.write(w, 0, w.length, 0)).bytesWritten
const r = allocAligned(65536)
out.read = (await f.read(r, 0, r.length, 0)).bytesRead
out.equal = r.equals(w)
const ac = new AbortController()
const p = f.read(allocAligned(4096), { position: 0, signal: ac.signal })
ac.abort()
out.abort = await p.then(() => 'resolved', (e) => (e instanceof AbortError ? e.stage : String(e)))
await f.close()
console.log(JSON.stringify(out))
`

interface Installed {
  dir: string
  installMs: number
}

/** Install `tarball` into a fresh project and check it as a user would. */
function installAndCheck(t: Test, label: string, tarball: string, env: NodeJS.ProcessEnv, expectBinding: RegExp): Installed | null {
  const project = scratchDir()
  t.teardown(() => fs.rmSync(project, { recursive: true, force: true }))
  const init = npm(['init', '-y'], project, env)
  t.equal(init.status, 0, `${label}: npm init -y`, { stderr: tail(init.stderr) })
  const inst = npm(['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project, env, 150_000)
  if (inst.status !== 0 && offline(inst)) {
    t.pass('skipped', { skip: `${label}: npm install needs packages that are not in the npm cache and the registry is unreachable` })
    return null
  }
  t.equal(inst.status, 0, `${label}: npm install <tarball> (${(inst.ms / 1000).toFixed(1)} s)`, { stdout: tail(inst.stdout), stderr: tail(inst.stderr) })
  if (inst.status !== 0) return null
  t.comment(`${label}: install took ${(inst.ms / 1000).toFixed(1)} s`)

  const data = scratchDir()
  t.teardown(() => fs.rmSync(data, { recursive: true, force: true }))
  fs.writeFileSync(path.join(project, 'check.cjs'), CHECK_CJS)
  fs.writeFileSync(path.join(project, 'check.mjs'), CHECK_ESM)

  const c = run(process.execPath, ['check.cjs', data], { cwd: project, env })
  t.equal(c.status, 0, `${label}: CommonJS consumer runs`, { stderr: tail(c.stderr) })
  if (c.status === 0) {
    const out = JSON.parse(c.stdout.trim().split('\n').pop()!)
    t.match(out.binding, expectBinding, `${label}: loads ${expectBinding}`)
    t.same(out.cjsNames, [
      'AbortError', 'BufferPool', 'DirectFileHandle', 'DirectReadStream', 'DirectWriteStream', 'IoContext', 'alignDown', 'alignUp', 'alignment', 'allocAligned', 'allocate', 'capabilities',
      'createReadStream', 'createReadStreamFromHandle', 'createWriteStream', 'createWriteStreamToHandle', 'isAligned', 'lock', 'open', 'punchHole',
      'readAt', 'readFile', 'readFileFromHandle', 'readableWebStreamFromHandle', 'unlock', 'writeFile', 'writeFileToHandle',
    ], `${label}: CommonJS exports`)
    t.same(out.esmNames, out.cjsNames, `${label}: import() has the same names`)
    t.equal(out.sameClasses, true, `${label}: import() and require() give the same classes`)
    t.equal(out.written, 1 << 20)
    t.equal(out.read, 1 << 20)
    t.equal(out.equal, true, `${label}: data read back equals data written`)
    t.same(out.abortStages, { queued: 64 }, `${label}: reads aborted before the flush never reach the kernel`)
    t.match(out.abortShape, { name: 'AbortError', code: 'ABORT_ERR', bytesTransferred: 0, ranges: [], cause: 'stop' })
    t.equal(out.preAborted, 'queued', `${label}: an already-aborted signal rejects with stage 'queued'`)
    t.equal(out.afterAbort, 4096, `${label}: the file is usable after the abort`)
    t.ok(out.stats.cancelledQueued >= 64, `${label}: stats count the queued aborts (${out.stats.cancelledQueued})`)
  }

  const e = run(process.execPath, ['check.mjs', data], { cwd: project, env })
  t.equal(e.status, 0, `${label}: ESM consumer runs`, { stderr: tail(e.stderr) })
  if (e.status === 0) {
    const out = JSON.parse(e.stdout.trim().split('\n').pop()!)
    t.equal(out.names.length, 27, `${label}: ESM named exports`)
    t.equal(out.sameClasses, true, `${label}: static import and require() give the same classes`)
    t.equal(out.equal, true)
    t.equal(out.abort, 'queued')
  }

  // `await using` as TypeScript emits it for Node 20 (target ES2022, esnext.disposable).
  const ts = require('typescript') as typeof import('typescript')
  const usingSrc = [
    "import { open, allocAligned } from 'direct-aio'",
    'async function main(dir: string): Promise<void> {',
    "  let handle: import('direct-aio').DirectFileHandle",
    '  {',
    "    await using file = await open(dir + '/using.bin', 'w+')",
    '    handle = file',
    '    await file.write(allocAligned(4096).fill(1), 0, 4096, 0)',
    '  }',
    '  const r = await handle.read(allocAligned(4096), 0, 4096, 0).then(() => "open", (e) => e.code)',
    '  console.log(JSON.stringify({ afterScope: r }))',
    '}',
    'main(process.argv[2]).catch((e) => { console.error(e); process.exit(1) })',
  ].join('\n')
  const js = ts.transpileModule(usingSrc, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'] } }).outputText
  fs.writeFileSync(path.join(project, 'using.cjs'), js)
  const u = run(process.execPath, ['using.cjs', data], { cwd: project, env })
  t.equal(u.status, 0, `${label}: \`await using\` compiled by tsc runs`, { stderr: tail(u.stderr) })
  if (u.status === 0) t.same(JSON.parse(u.stdout.trim()), { afterScope: 'EBADF' }, `${label}: the file is closed at scope exit`)

  const npxCli = path.join(path.dirname(npmCli!), 'npx-cli.js')
  const d = run(process.execPath, [npxCli, '--no', 'direct-aio', 'doctor'], { cwd: project, env })
  t.equal(d.status, 0, `${label}: npx direct-aio doctor`, { stdout: tail(d.stdout), stderr: tail(d.stderr) })
  t.match(d.stdout, /'auto' picks/, `${label}: doctor prints its table`)
  const j = run(process.execPath, [npxCli, '--no', 'direct-aio', 'doctor', '--json'], { cwd: project, env })
  t.equal(j.status, 0, `${label}: npx direct-aio doctor --json`)
  if (j.status === 0) {
    const doc = JSON.parse(j.stdout)
    const caps = doc.capabilities ?? doc
    t.type(caps.backend, 'string', `${label}: doctor --json reports the backend`)
    t.type(caps.ioUring?.available, 'boolean', `${label}: doctor --json reports io_uring availability`)
  }
  return { dir: project, installMs: inst.ms }
}

/** Bring dist/ up to date with lib/ the way `npm run build` would (tarballs are packed from dist/). */
function ensureBuilt(): string | null {
  const newest = (dir: string): number => {
    let m = 0
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      m = Math.max(m, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs)
    }
    return m
  }
  const mjs = path.join(root, 'dist', 'index.mjs')
  if (fs.existsSync(mjs) && fs.statSync(mjs).mtimeMs >= newest(path.join(root, 'lib'))) return null
  const tsc = run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root })
  if (tsc.status !== 0) return `tsc failed: ${tail(tsc.stdout)}`
  const esm = run(process.execPath, ['scripts/build-esm.js'], { cwd: root })
  return esm.status === 0 ? null : `build-esm failed: ${tail(esm.stderr)}`
}

t.test('importing on a platform other than Linux fails with one sentence', async (t) => {
  for (const platform of ['darwin', 'win32', 'freebsd']) {
    const fake = `Object.defineProperty(process, 'platform', { value: '${platform}' });`
    const cjs = run(process.execPath, ['-e', `${fake} try { require('./dist') } catch (e) { console.log(JSON.stringify({ message: e.message })) }`], { cwd: root })
    t.equal(cjs.status, 0, `${platform}: child ran`, { stderr: tail(cjs.stderr) })
    const { message } = JSON.parse(cjs.stdout)
    t.match(message, new RegExp(`Linux.*${platform}`), `${platform}: names Linux and the platform`)
    t.match(message, /^[^\n.]+\.$/, `${platform}: a single sentence: ${message}`)
    t.notMatch(message, /node-gyp-build|No native build/, `${platform}: not the loader's error`)

    const esm = run(process.execPath, ['--input-type=module', '-e', `${fake} import('./dist/index.mjs').then(() => console.log('loaded'), (e) => console.log(e.message))`], { cwd: root })
    t.equal(esm.stdout.trim(), message, `${platform}: import() rejects with the same sentence`)

    // Uncaught, as a user sees it: the sentence, and no stack frames from the loader.
    const bare = run(process.execPath, ['-e', `${fake} require('./dist')`], { cwd: root })
    t.not(bare.status, 0, `${platform}: uncaught require exits non-zero`)
    t.match(bare.stderr, message)
    t.notMatch(bare.stderr, /node-gyp-build/, `${platform}: the loader is never reached`)
  }
})

t.test('packed tarball, installed without and with a compiler', { timeout: 240_000 }, async (t) => {
  if (!npmCli) return t.pass('skipped', { skip: 'npm-cli.js not found next to node' })
  const built = ensureBuilt()
  if (built) return t.fail(built)

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-pack-'))
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))

  // dist/ is current (above); --ignore-scripts keeps `prepare` from rewriting it under other running tests.
  const pack = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], root)
  if (pack.status !== 0 && offline(pack)) return t.pass('skipped', { skip: 'npm pack needs the network here' })
  t.equal(pack.status, 0, 'npm pack', { stderr: tail(pack.stderr) })
  if (pack.status !== 0) return
  const info = JSON.parse(pack.stdout)[0] as { filename: string; size: number; unpackedSize: number; files: Array<{ path: string; size: number }> }
  const tarball = path.join(work, info.filename)
  const files = info.files.map((f) => f.path).sort()
  t.comment(`tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${files.length} files`)

  t.test('tarball contents', async (t) => {
    for (const need of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'binding.gyp', 'bin/direct-aio.js', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/cli.js', 'src/addon.cc', 'src/ring.h', 'prebuilds/linux-x64/direct-aio.glibc.node', 'prebuilds/linux-arm64/direct-aio.glibc.node']) {
      t.ok(files.includes(need), `includes ${need}`)
    }
    const stray = files.filter((f) => /^(test|bench|lib|build|scripts|docs|node_modules|\.ci|\.tap)\//.test(f) || /\.ts$/.test(f.replace(/\.d\.m?ts$/, '')) || /(^|\/)tsconfig|\.tgz$|\.log$/.test(f))
    t.same(stray, [], 'no tests, benchmarks, TypeScript sources or build output')
    const manifest = files.filter((f) => f !== 'package.json' && !/^(dist|bin|prebuilds|src)\//.test(f))
    t.same(manifest.sort(), ['CHANGELOG.md', 'LICENSE', 'README.md', 'binding.gyp'], 'top level: README, LICENSE, CHANGELOG, binding.gyp')
  })

  t.test('committed prebuilds match src/ and load on glibc 2.28', async (t) => {
    const m = JSON.parse(fs.readFileSync(path.join(root, 'prebuilds', 'MANIFEST.json'), 'utf8'))
    t.ok(m.builds['linux-x64/direct-aio.glibc.node'], 'MANIFEST.json describes the linux-x64 prebuild')
    const hash = prebuild.sourceHash()
    const onDisk = fs
      .readdirSync(path.join(root, 'prebuilds'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => fs.readdirSync(path.join(root, 'prebuilds', d.name)).filter((f) => f.endsWith('.node')).map((f) => `${d.name}/${f}`))
    for (const rel of onDisk) {
      const how = rel.startsWith('linux-arm64/') ? '`npm run prebuildify-arm64` (then `npm run test-prebuild-arm64`)' : '`npm run prebuildify`'
      t.equal(m.builds[rel]?.sources, hash, `prebuilds/${rel} was built from the current binding.gyp and src/ (if not: ${how}, and commit prebuilds/)`)
    }
    const v = prebuild.symbolVersions(path.join(root, 'prebuilds', 'linux-x64', 'direct-aio.glibc.node'))
    if (!v) return t.pass('skipped', { skip: 'objdump is not installed (binutils)' })
    t.comment(`prebuild needs glibc ${v.glibc}, GLIBCXX ${v.glibcxx}, links ${v.needed.join(' ')}`)
    t.ok(prebuild.compareVersions(v.glibc!, prebuild.MAX_GLIBC) <= 0, `needs glibc ${v.glibc} <= ${prebuild.MAX_GLIBC}`)
    t.ok(v.glibcxx === null || prebuild.compareVersions(v.glibcxx, prebuild.MAX_GLIBCXX) <= 0, `needs GLIBCXX ${v.glibcxx} <= ${prebuild.MAX_GLIBCXX}`)
    for (const [rel, entry] of Object.entries(m.builds as Record<string, { glibc?: string }>)) {
      if (rel.includes('.glibc.') && entry.glibc) t.ok(prebuild.compareVersions(entry.glibc, prebuild.MAX_GLIBC) <= 0, `${rel} needs glibc ${entry.glibc} (recorded at build time)`)
    }
  })

  const times: Record<string, number> = {}
  t.test('install with no compiler on PATH loads the prebuild', async (t) => {
    const bin = noCompilerPath(path.join(work, 'bin'))
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin }
    for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k]
    for (const c of COMPILERS) {
      const r = spawnSync('sh', ['-c', `command -v ${c}`], { env, encoding: 'utf8' })
      t.equal(r.stdout.trim(), '', `${c} is not on PATH`)
    }
    const r = installAndCheck(t, 'prebuild', tarball, env, /prebuilds\/linux-x64\/direct-aio\.glibc\.node$/)
    if (r) {
      times.prebuild = r.installMs
      t.notOk(fs.existsSync(path.join(r.dir, 'node_modules', 'direct-aio', 'build')), 'nothing was compiled')
    }
  })

  t.test('install without the prebuild builds from source', async (t) => {
    const unpacked = path.join(work, 'src-only')
    fs.mkdirSync(unpacked)
    const x = run('tar', ['xzf', tarball, '-C', unpacked], { cwd: work })
    t.equal(x.status, 0, 'tar xzf', { stderr: x.stderr })
    const pkgDir = path.join(unpacked, 'package')
    fs.rmSync(path.join(pkgDir, 'prebuilds'), { recursive: true, force: true })
    const env: NodeJS.ProcessEnv = { ...process.env, ...nodedirEnv() }
    for (const k of Object.keys(env)) if (/^npm_/i.test(k) && k !== 'npm_config_nodedir') delete env[k]
    const repack = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', unpacked], pkgDir, env)
    t.equal(repack.status, 0, 'repack without prebuilds/', { stderr: tail(repack.stderr) })
    if (repack.status !== 0) return
    const srcTarball = path.join(unpacked, JSON.parse(repack.stdout)[0].filename)
    const r = installAndCheck(t, 'source', srcTarball, env, /build\/Release\/direct_aio\.node$/)
    if (r) times.source = r.installMs
  })

  t.teardown(() => {
    if (times.prebuild !== undefined || times.source !== undefined) {
      console.log(`# install time: prebuild ${((times.prebuild ?? NaN) / 1000).toFixed(1)} s, from source ${((times.source ?? NaN) / 1000).toFixed(1)} s`)
    }
  })
})
