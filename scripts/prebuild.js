#!/usr/bin/env node
// `npm run prebuildify [-- prebuildify options]`: build the N-API prebuild that
// ships in the npm package, prebuilds/<platform>-<arch>/direct-aio.<libc>.node.
//
// It runs `prebuildify --napi --strip --tag-libc`, with three additions:
//  - It builds in a scratch copy of binding.gyp + src/, so the working tree's
//    build/ (which node-gyp-build prefers over prebuilds/) is left alone.
//  - For glibc it force-includes scripts/glibc-compat.h and then checks with
//    objdump that the result needs at most glibc 2.28 and GLIBCXX_3.4.21
//    (GCC 5's libstdc++), so it loads everywhere Node.js 20 runs.
//  - It records, in prebuilds/MANIFEST.json, a hash of the sources each
//    prebuild was made from; test/pack.test.ts fails when the committed
//    prebuild no longer matches src/.
//
// The npm script is named `prebuildify`, not `prebuild`: npm would run a
// script named `prebuild` as a pre-hook of every `npm run build`.
//
// Cross builds (see README "Prebuilds"): e.g.
//   CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip \
//     npm run prebuildify -- --arch arm64
'use strict'
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.resolve(__dirname, '..')
const MAX_GLIBC = '2.28'
const MAX_GLIBCXX = '3.4.21'

/** Files whose content determines the native build, relative to `dir`. */
function sourceFiles(dir = root) {
  const src = fs
    .readdirSync(path.join(dir, 'src'))
    .filter((f) => /\.(cc|h|c|cpp|hpp)$/.test(f))
    .sort()
    .map((f) => path.join('src', f))
  return ['binding.gyp', ...src, path.join('scripts', 'glibc-compat.h')]
}

/** sha256 over the native sources (in `dir`) and the node-addon-api version. */
function sourceHash(dir = root) {
  const h = crypto.createHash('sha256')
  for (const rel of sourceFiles(dir)) {
    h.update(rel + '\0')
    h.update(fs.readFileSync(path.join(dir, rel)))
    h.update('\0')
  }
  try {
    h.update('node-addon-api@' + require(path.join(root, 'node_modules', 'node-addon-api', 'package.json')).version)
  } catch {
    h.update('node-addon-api@?')
  }
  return h.digest('hex')
}

function compareVersions(a, b) {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0)
    if (d) return d
  }
  return 0
}

/**
 * Highest GLIBC_x.y and GLIBCXX_x.y.z symbol versions a shared object needs,
 * from `objdump -T`. Returns null if no objdump can read the file.
 */
function symbolVersions(file, objdumps = ['objdump']) {
  for (const bin of objdumps) {
    const r = spawnSync(bin, ['-T', file], { encoding: 'utf8' })
    if (r.status !== 0 || !r.stdout) continue
    const max = { glibc: null, glibcxx: null }
    for (const m of r.stdout.matchAll(/\b(GLIBC|GLIBCXX)_(\d+(?:\.\d+)+)\b/g)) {
      const key = m[1] === 'GLIBC' ? 'glibc' : 'glibcxx'
      if (max[key] === null || compareVersions(m[2], max[key]) > 0) max[key] = m[2]
    }
    const needed = spawnSync(bin, ['-p', file], { encoding: 'utf8' })
    max.needed = [...(needed.stdout || '').matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1])
    return max
  }
  return null
}

function main(args) {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-prebuild-'))
  try {
    fs.copyFileSync(path.join(root, 'package.json'), path.join(stage, 'package.json'))
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'))
    fs.cpSync(path.join(root, 'src'), path.join(stage, 'src'), { recursive: true })
    fs.mkdirSync(path.join(stage, 'scripts'))
    fs.copyFileSync(path.join(root, 'scripts', 'glibc-compat.h'), path.join(stage, 'scripts', 'glibc-compat.h'))
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'))
    // The hash of what is built, taken from the copy: src/ may change meanwhile.
    const hash = sourceHash(stage)

    const env = { ...process.env }
    // Use the headers installed with this Node.js instead of downloading them.
    const prefix = path.resolve(path.dirname(process.execPath), '..')
    if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix
    const musl = env.PREBUILD_LIBC === 'musl' || fs.existsSync('/etc/alpine-release')
    if (!musl) env.CXXFLAGS = `${env.CXXFLAGS || ''} -include ${path.join(stage, 'scripts', 'glibc-compat.h')}`.trim()

    const builds = path.join(root, 'prebuilds')
    const cli = require.resolve('prebuildify/bin.js', { paths: [root] })
    const argv = [cli, '--napi', '--strip', '--tag-libc', '--cwd', stage, '--out', root, ...args]
    console.log(`prebuild: prebuildify ${argv.slice(1).join(' ')}`)
    const t0 = Date.now()
    const r = spawnSync(process.execPath, argv, { cwd: stage, env, stdio: 'inherit' })
    if (r.status !== 0) return r.status || 1

    // Which files did this run produce?
    const produced = []
    for (const dir of fs.existsSync(builds) ? fs.readdirSync(builds) : []) {
      const full = path.join(builds, dir)
      if (!fs.statSync(full).isDirectory()) continue
      for (const f of fs.readdirSync(full)) {
        const p = path.join(full, f)
        if (f.endsWith('.node') && fs.statSync(p).mtimeMs >= t0) produced.push(`${dir}/${f}`)
      }
    }

    const manifestPath = path.join(builds, 'MANIFEST.json')
    let manifest = { builds: {} }
    try {
      manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
    } catch {
      // first build
    }
    manifest.about = 'Written by scripts/prebuild.js. `sources` is the sha256 of binding.gyp, src/ and scripts/glibc-compat.h each prebuild was made from.'
    manifest.builds = manifest.builds || {}
    const cxx = env.CXX || 'g++'
    const compiler = (spawnSync(cxx, ['--version'], { encoding: 'utf8' }).stdout || '').split('\n')[0]
    const cross = cxx.endsWith('g++') ? cxx.slice(0, -3) : ''
    let bad = false
    for (const rel of produced) {
      const file = path.join(builds, rel)
      const v = symbolVersions(file, cross ? [`${cross}objdump`, 'objdump'] : ['objdump'])
      const entry = {
        sources: hash,
        bytes: fs.statSync(file).size,
        sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
        compiler,
        node: process.version,
      }
      if (v) {
        entry.glibc = v.glibc
        entry.glibcxx = v.glibcxx
        entry.needed = v.needed
        console.log(`prebuild: ${rel}: ${entry.bytes} bytes, needs glibc ${v.glibc ?? '-'}, libstdc++ GLIBCXX ${v.glibcxx ?? '-'}, links ${v.needed.join(' ')}`)
        if (rel.includes('glibc') && ((v.glibc && compareVersions(v.glibc, MAX_GLIBC) > 0) || (v.glibcxx && compareVersions(v.glibcxx, MAX_GLIBCXX) > 0))) {
          console.error(`prebuild: ${rel} needs newer libraries than glibc ${MAX_GLIBC} / GLIBCXX_${MAX_GLIBCXX}; extend scripts/glibc-compat.h or build on an older distribution`)
          bad = true
        }
      } else {
        console.log(`prebuild: ${rel}: ${entry.bytes} bytes (no objdump could read it; symbol versions not checked)`)
      }
      manifest.builds[rel] = entry
    }
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n')
    return bad ? 1 : 0
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

module.exports = { sourceHash, sourceFiles, symbolVersions, compareVersions, MAX_GLIBC, MAX_GLIBCXX }

if (require.main === module) process.exitCode = main(process.argv.slice(2))
