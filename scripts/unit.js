#!/usr/bin/env node
// `npm run test:unit`: run test/unit/*.test.ts under tsx, as many at once as
// there are cores, with every native addon refused (scripts/no-addon.js), and
// print one line a file; a failing file's whole TAP output is printed.
// `npm test` runs the same files through tap with the rest of the suite.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const root = path.join(__dirname, '..')
const dir = path.join(root, 'test', 'unit')
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort()

function run(f) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--require', path.join(__dirname, 'no-addon.js'), '--import', 'tsx', path.join(dir, f)], { cwd: root })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (out += d))
    c.on('close', (code) => resolve({ f, code, out }))
  })
}

async function main() {
  const t0 = performance.now()
  const results = []
  const queue = files.slice()
  const workers = Array.from({ length: Math.max(1, Math.min(queue.length, os.availableParallelism())) }, async () => {
    while (queue.length) results.push(await run(queue.shift()))
  })
  await Promise.all(workers)
  let failed = 0
  let total = 0
  for (const { f, code, out } of results.sort((a, b) => a.f.localeCompare(b.f))) {
    const m = /# (\{ total: (\d+)[^}]*\})/.exec(out)
    if (m) total += Number(m[2])
    if (code !== 0) {
      failed++
      process.stdout.write(out)
    }
    console.log(`${code === 0 ? 'ok    ' : 'FAILED'} test/unit/${f} ${m ? m[1] : 'no summary'}`)
  }
  console.log(`${files.length} files, ${total} assertions, ${failed} failed, ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return failed ? 1 : 0
}

main().then((code) => (process.exitCode = code))
