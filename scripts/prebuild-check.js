#!/usr/bin/env node
// Smoke check of a prebuild on the machine (or emulator) that runs it: load
// the package from prebuilds/ only, then a verified O_DIRECT write/read and a
// mass abort. Prints one JSON line; exits non-zero on any failure.
//
// usage: PREBUILDS_ONLY=1 node scripts/prebuild-check.js PACKAGE_DIR DATA_DIR
//   PACKAGE_DIR  a directory with package.json, dist/, prebuilds/ and
//                node_modules/node-gyp-build (e.g. an unpacked tarball)
//   DATA_DIR     a directory on a filesystem with O_DIRECT (not tmpfs)
'use strict'
const path = require('node:path')
const fs = require('node:fs')

const [pkgDir, dataDir] = process.argv.slice(2).map((p) => path.resolve(p))
if (!pkgDir || !dataDir) {
  console.error('usage: node scripts/prebuild-check.js PACKAGE_DIR DATA_DIR')
  process.exit(2)
}
const { open, allocAligned, AbortError, capabilities } = require(pkgDir)
const binding = require(require.resolve('node-gyp-build', { paths: [pkgDir] })).path(pkgDir)

;(async () => {
  const caps = capabilities()
  const out = { arch: process.arch, node: process.version, binding: path.relative(pkgDir, binding), backend: caps.backend, backendReason: caps.backendReason }
  const file = path.join(dataDir, `prebuild-check-${process.pid}.bin`)
  const f = await open(file, 'w+')
  try {
    const w = allocAligned(1 << 20)
    for (let i = 0; i < w.length; i++) w[i] = (i * 13) & 0xff
    out.written = (await f.write(w, 0, w.length, 0)).bytesWritten
    const r = allocAligned(1 << 20)
    out.read = (await f.read(r, 0, r.length, 0)).bytesRead
    out.equal = r.equals(w)
    const ac = new AbortController()
    const reads = []
    for (let i = 0; i < 32; i++) reads.push(f.read(allocAligned(4096), { position: i * 4096, signal: ac.signal }))
    ac.abort()
    out.stages = {}
    for (const s of await Promise.allSettled(reads)) {
      const k = s.status === 'rejected' && s.reason instanceof AbortError ? s.reason.stage : s.status
      out.stages[k] = (out.stages[k] || 0) + 1
    }
  } finally {
    await f.close()
    fs.rmSync(file, { force: true })
  }
  console.log(JSON.stringify(out))
  const ok = out.binding.startsWith('prebuilds') && out.equal && out.written === 1 << 20 && out.stages.queued === 32
  process.exitCode = ok ? 0 : 1
})().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
