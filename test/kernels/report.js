#!/usr/bin/env node
// test/kernels/report.js WORKDIR RELEASE...
// Reads what run.sh collected for each guest (WORKDIR/RELEASE/results and
// progress.log) and prints the per-kernel table, then the details of every
// failure. Exit code 1 if any kernel failed, timed out or did not report.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const [work, ...releases] = process.argv.slice(2)
const read = (f) => {
  try {
    return fs.readFileSync(f, 'utf8')
  } catch {
    return null
  }
}

function parseEnv(text) {
  const o = {}
  for (const line of (text || '').split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) o[line.slice(0, i)] = line.slice(i + 1)
  }
  return o
}

// TAP from `tap --reporter=tap`: per-file verdicts at indent 0, the summary
// `# { total: N, pass: N, fail: N, skip: N, todo: N }`, and every `not ok` with
// its YAML diagnostics, named by its chain of subtest titles.
function parseTap(text) {
  const r = { files: [], summary: null, failures: [], skips: [] }
  if (!text) return r
  const lines = text.split('\n')
  const stack = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const m = /^( *)(not ok|ok) \d+ - (.*?)(?: # (.*))?$/.exec(line)
    const sub = /^( *)# Subtest: (.*)$/.exec(line)
    if (sub) {
      const depth = sub[1].length / 4
      stack.length = depth
      stack[depth] = sub[2]
      continue
    }
    const s = /^# \{(.*)\}$/.exec(line)
    if (s) {
      r.summary = {}
      for (const kv of s[1].split(',')) {
        const [k, v] = kv.split(':').map((x) => x.trim())
        if (k) r.summary[k] = Number(v)
      }
      continue
    }
    if (!m) continue
    const depth = m[1].length / 4
    const name = m[3]
    const directive = m[4] || ''
    if (depth === 0) r.files.push({ name, ok: m[2] === 'ok', directive })
    const where = [...stack.slice(0, depth), name].filter(Boolean).join(' > ')
    if (/^SKIP\b/i.test(directive)) r.skips.push(`${where}: ${directive.replace(/^SKIP\s*/i, '')}`)
    if (m[2] === 'not ok' && !/^(TODO|SKIP)\b/i.test(directive)) {
      // Leaf failures carry YAML diagnostics; a failed parent only repeats them.
      const diag = []
      if (lines[i + 1] !== undefined && /^ *---$/.test(lines[i + 1])) {
        for (let j = i + 2; j < lines.length && !/^ *\.\.\.$/.test(lines[j]); j++) diag.push(lines[j].trim())
      }
      r.failures.push({ where, diag })
    }
  }
  return r
}

function capsCells(res) {
  const rc = (read(path.join(res, 'caps.rc')) || '').trim()
  if (rc === '') return { ok: false, uring: 'not run', cancel: '-', libaio: '-', auto: '-' }
  if (rc !== '0') {
    const what = rc === '124' || rc === '137' ? 'capabilities() HUNG (killed)' : `capabilities() failed rc=${rc}`
    return { ok: false, uring: what, cancel: '-', libaio: '-', auto: '-' }
  }
  let j
  try {
    j = JSON.parse(read(path.join(res, 'caps.json')))
  } catch {
    return { ok: false, uring: 'bad capabilities() output', cancel: '-', libaio: '-', auto: '-' }
  }
  const u = j.caps.ioUring
  const uring = u.available ? `yes, ${u.opcodes.length} ops, feat 0x${u.featureBits.toString(16)}` : `no: ${u.reason}`
  const flags = u.available ? Object.entries(u.cancelFlags || {}).filter(([, v]) => v).map(([k]) => k).join(',') || 'none' : '-'
  const cancel = u.available ? `${flags}${u.syncCancel ? ' +sync' : ''}` : '-'
  const libaio = j.caps.libaio.available ? 'yes' : `no: ${j.caps.libaio.reason}`
  const auto = j.auto && j.auto.backend ? j.auto.backend : `error: ${j.auto && j.auto.error}`
  const autoCell = j.caps.backend === auto ? auto : `${auto} (caps: ${j.caps.backend})`
  return { ok: true, uring, cancel, libaio, auto: autoCell }
}

const rows = []
const details = []
let failed = false
for (const rel of releases) {
  const g = path.join(work, rel)
  const res = path.join(g, 'results')
  const host = parseEnv(read(path.join(res, 'host.env')))
  const progress = read(path.join(g, 'progress.log')) || ''
  const boot = /^guest-boot ([\d.]+)/m.exec(progress)
  const exit = /^guest-exit (\d+)/m.exec(progress)
  const caps = capsCells(res)
  const tap = parseTap(read(path.join(res, 'tap.log')))
  const tapRc = (read(path.join(res, 'tap.rc')) || '').trim()
  const sum = tap.summary || {}
  const timedOut = host.qemu_rc === '124' || host.qemu_rc === '137'
  const problems = []
  if (timedOut) problems.push(`guest TIMEOUT after ${host.wall} s`)
  else if (host.qemu_rc && host.qemu_rc !== '0') problems.push(`qemu rc ${host.qemu_rc}`)
  if (!boot) problems.push('guest did not boot')
  else if (!exit) problems.push('guest did not finish')
  if (!caps.ok) problems.push(caps.uring)
  if (caps.ok && tapRc === '') problems.push('suite did not run')
  if (tapRc === '124' || tapRc === '137') problems.push('suite timed out in the guest')
  else if (tapRc !== '' && tapRc !== '0') problems.push(`tap rc ${tapRc}`)
  if (caps.ok && tapRc !== '' && !tap.summary) problems.push('no TAP summary')
  const ok = problems.length === 0 && (sum.fail || 0) === 0
  if (!ok) failed = true
  rows.push([
    host.kver || rel,
    rel,
    caps.uring,
    caps.cancel,
    caps.libaio,
    caps.auto,
    boot ? `${Number(boot[1]).toFixed(1)} s` : '-',
    host.wall ? `${host.wall} s` : '-',
    tap.summary ? String(sum.pass || 0) : '-',
    tap.summary ? String(sum.fail || 0) : '-',
    tap.summary ? String(sum.skip || 0) : '-',
    ok ? 'PASS' : `FAIL${problems.length ? ': ' + problems.join('; ') : ''}`,
  ])
  const files = tap.files.map((f) => `${f.ok ? 'ok' : 'NOT OK'} ${f.name}${f.directive ? ' # ' + f.directive : ''}`)
  details.push({ rel, kver: host.kver, files, failures: tap.failures.filter((f) => !tap.failures.some((o) => o.where.startsWith(f.where + ' > '))), skips: tap.skips })
}

const head = ['kernel', 'debian', 'io_uring (capabilities)', 'cancel flags', 'libaio', "'auto'", 'boot', 'wall', 'pass', 'fail', 'skip', 'result']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const fmt = (r) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
console.log('')
console.log(fmt(head))
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
for (const r of rows) console.log(fmt(r))
console.log('')
for (const d of details) {
  if (d.files.length) console.log(`${d.rel} (${d.kver}): ${d.files.join(', ')}`)
  for (const s of d.skips) console.log(`  skipped: ${s}`)
  for (const f of d.failures.slice(0, 30)) {
    console.log(`  FAILED: ${f.where}`)
    for (const l of f.diag.slice(0, 14)) console.log(`      ${l}`)
  }
  if (d.failures.length > 30) console.log(`  ... and ${d.failures.length - 30} more failures`)
}
process.exit(failed ? 1 : 0)
