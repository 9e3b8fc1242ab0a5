#!/usr/bin/env node
// Finds runtime import cycles in the compiled library: every require() of a
// relative module in dist/**/*.js (tsc drops type-only imports, so what is
// left is what runs). A require() inside a function body (loaded lazily) is
// an edge too, and is marked as such in the output.
//
// usage: node scripts/check-cycles.js [distDir]   (default: <repo>/dist); exit 1 on a cycle
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const dist = path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist'))
const files = []
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.js')) files.push(p)
  }
}
walk(dist)

const edges = new Map()
for (const f of files) {
  const src = fs.readFileSync(f, 'utf8')
  const out = []
  for (const line of src.split('\n')) {
    for (const m of line.matchAll(/require\(["'](\.[^"']+)["']\)/g)) {
      let target = path.resolve(path.dirname(f), m[1])
      if (!target.endsWith('.js')) target += fs.existsSync(target + '.js') ? '.js' : '/index.js'
      out.push({ target, lazy: /^\s/.test(line) })
    }
  }
  edges.set(f, out)
}

const rel = (p) => path.relative(dist, p)
const cycles = []
const state = new Map() // 1: on the stack, 2: done
const stack = []
function visit(f) {
  state.set(f, 1)
  stack.push(f)
  for (const { target, lazy } of edges.get(f) || []) {
    if (state.get(target) === 1) {
      const cyc = stack.slice(stack.indexOf(target)).map(rel)
      cycles.push(`${cyc.join(' -> ')} -> ${rel(target)}${lazy ? ' (closing edge is a lazy require)' : ''}`)
    } else if (!state.has(target) && edges.has(target)) visit(target)
  }
  stack.pop()
  state.set(f, 2)
}
for (const f of files) if (!state.has(f)) visit(f)

const n = [...edges.values()].reduce((a, e) => a + e.length, 0)
if (cycles.length === 0) {
  console.log(`no import cycle: ${files.length} modules, ${n} relative requires`)
} else {
  console.log(`${cycles.length} import cycle(s):\n${cycles.join('\n')}`)
  process.exitCode = 1
}
