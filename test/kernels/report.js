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

// TAP of one test file (run directly by node): the summary
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
  const filesFailed = []
  // One TAP file per test file (guest.sh), in the order they ran.
  const fdir = path.join(res, 'files')
  let names = []
  try {
    names = fs.readdirSync(fdir).filter((n) => n.endsWith('.rc')).map((n) => n.slice(0, -3))
  } catch {}
  names.sort((x, y) => Number((read(path.join(fdir, `${x}.time`)) || '0').split(' ')[0]) - Number((read(path.join(fdir, `${y}.time`)) || '0').split(' ')[0]))
  const sum = { pass: 0, fail: 0, skip: 0 }
  const files = []
  const failures = []
  const skips = []
  for (const n of names) {
    const rc = (read(path.join(fdir, `${n}.rc`)) || '').trim()
    const [t0, t1] = (read(path.join(fdir, `${n}.time`)) || '0 0').trim().split(' ').map(Number)
    const tap = parseTap(read(path.join(fdir, `${n}.tap`)))
    const s = tap.summary || {}
    for (const k of ['pass', 'fail', 'skip']) sum[k] += s[k] || 0
    const why = []
    if (rc === '124' || rc === '137') why.push('killed by timeout')
    else if (rc !== '0') why.push(`exit ${rc}`)
    if (!tap.summary) why.push('no TAP summary')
    if (s.fail) why.push(`${s.fail} failed`)
    files.push(`${n} ${why.length ? 'FAIL (' + why.join(', ') + ')' : 'ok'} ${(t1 - t0).toFixed(0)} s`)
    for (const f of tap.failures) if (!tap.failures.some((o) => o.where.startsWith(f.where + ' > '))) failures.push({ ...f, where: `${n}: ${f.where}` })
    if (why.length && !tap.failures.length) {
      const err = (read(path.join(fdir, `${n}.err`)) || '').trim().split('\n').slice(-8)
      failures.push({ where: `${n}: ${why.join(', ')}`, diag: err })
    }
    for (const k of tap.skips) skips.push(`${n}: ${k}`)
    if (why.length) filesFailed.push(n)
  }
  const haveTap = names.length > 0
  const timedOut = host.qemu_rc === '124' || host.qemu_rc === '137'
  const problems = []
  if (timedOut) problems.push(`guest TIMEOUT after ${host.wall} s`)
  else if (host.qemu_rc && host.qemu_rc !== '0') problems.push(`qemu rc ${host.qemu_rc}`)
  if (!boot) problems.push('guest did not boot')
  else if (!exit) problems.push('guest did not finish')
  if (!caps.ok) problems.push(caps.uring)
  if (caps.ok && !haveTap) problems.push('suite did not run')
  if (filesFailed.length) problems.push(`failed: ${filesFailed.join(', ')}`)
  const ok = problems.length === 0
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
    haveTap ? String(sum.pass) : '-',
    haveTap ? String(sum.fail) : '-',
    haveTap ? String(sum.skip) : '-',
    ok ? 'PASS' : `FAIL${problems.length ? ': ' + problems.join('; ') : ''}`,
  ])
  details.push({ rel, kver: host.kver, files, failures, skips })
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
  if (d.files.length) console.log(`${d.rel} (${d.kver}): ${d.files.join('; ')}`)
  for (const s of d.skips) console.log(`  skipped: ${s}`)
  for (const f of d.failures.slice(0, 30)) {
    console.log(`  FAILED: ${f.where}`)
    for (const l of f.diag.slice(0, 14)) console.log(`      ${l}`)
  }
  if (d.failures.length > 30) console.log(`  ... and ${d.failures.length - 30} more failures`)
}
process.exit(failed ? 1 : 0)
