// --require hook (via NODE_OPTIONS) for cancel-child.js in the guest: times
// native Ring calls and AbortController.abort(), records event-loop gaps, and
// writes them to $AIO61_OUT/<pid>.json at exit. Only active in cancel-child.
'use strict'
if (process.argv[1] && process.argv[1].endsWith('cancel-child.js')) {
  const fs = require('node:fs')
  const path = require('node:path')
  const now = () => performance.now()
  const cfg = (() => { try { return JSON.parse(process.argv[2]) } catch { return {} } })()
  const { binding } = require(path.join(__dirname, '..', 'dist', 'binding.js'))
  const calls = []
  const Real = binding.Ring
  binding.Ring = function (backend, entries, batch, cb) {
    const r = new Real(backend, entries, batch, (n) => { const t = now(); cb(n); calls.push([t, 'batch', now() - t, n]) })
    const wrap = (name) => { const f = r[name].bind(r); return (...a) => { const t = now(); const v = f(...a); calls.push([t, name, now() - t, v]); return v } }
    return { prep: wrap('prep'), cancel: wrap('cancel'), submit: wrap('submit'), close: () => r.close(), stats: () => r.stats() }
  }
  const aborts = []
  const realAbort = AbortController.prototype.abort
  AbortController.prototype.abort = function (...a) { const t = now(); const v = realAbort.apply(this, a); aborts.push([t, now() - t]); return v }
  const gaps = []
  let last = now()
  setInterval(() => { const t = now(); if (t - last > 40) gaps.push([last, t - last]); last = t }, 10).unref()
  const stat = () => { try { return fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ') } catch { return [] } }
  const st0 = stat()
  process.on('exit', () => {
    const a = aborts[0] ? aborts[0][0] : 0
    const rel = (t) => +(t - a).toFixed(1)
    const st1 = stat()
    const out = { pid: process.pid, mode: cfg.mode, backend: cfg.backend, op: cfg.op, abort: aborts.map(([t, d]) => [rel(t), +d.toFixed(1)]),
      gapsOver40ms: gaps.map(([t, d]) => [rel(t), +d.toFixed(1)]),
      // utime/stime in ticks, voluntary/involuntary ctx switches are not in stat; minflt/majflt are
      ticks: { utime: st1[11] - st0[11], stime: st1[12] - st0[12], minflt: st1[7] - st0[7], majflt: st1[9] - st0[9] },
      slowCalls: calls.filter((c) => c[2] > 3).map((c) => [rel(c[0]), c[1], +c[2].toFixed(1), c[3]]),
      aroundAbort: calls.filter((c) => a && c[0] > a - 20 && c[0] < a + 2000).map((c) => [rel(c[0]), c[1], +c[2].toFixed(2), c[3]]).slice(0, 40) }
    try { fs.mkdirSync(process.env.AIO61_OUT, { recursive: true }); fs.writeFileSync(path.join(process.env.AIO61_OUT, `${cfg.mode}-${cfg.backend}-${cfg.op}-${process.pid}.json`), JSON.stringify(out)) } catch {}
  })
}
