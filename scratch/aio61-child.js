// Instrumented copy of cancel-child's massAbort: times every native Ring call
// (prep/cancel/submit, and the JS batch callback) and records event-loop gaps.
'use strict'
const path = require('node:path')
const dist = path.join(__dirname, '..', 'dist')
const { binding } = require(path.join(dist, 'binding.js'))
const { monitorEventLoopDelay } = require('node:perf_hooks')
const now = () => performance.now()
const calls = [] // [t, name, ms, ret]
const Real = binding.Ring
binding.Ring = function (backend, entries, batch, cb) {
  const r = new Real(backend, entries, batch, (n) => {
    const t = now()
    cb(n)
    calls.push([t, 'batch', now() - t, n])
  })
  const wrap = (name) => {
    const f = r[name].bind(r)
    return (...a) => {
      const t = now()
      const v = f(...a)
      const d = now() - t
      calls.push([t, name, d, v])
      return v
    }
  }
  return { prep: wrap('prep'), cancel: wrap('cancel'), submit: wrap('submit'), close: () => r.close(), stats: () => r.stats() }
}
const { open, allocAligned, IoContext } = require(path.join(dist, 'index.js'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function main(cfg) {
  const ctx = new IoContext({ backend: cfg.backend, entries: 256, kernelCancel: 'auto', maxInFlight: 'auto' })
  const f = await open(cfg.path, cfg.op === 'write' ? 'r+' : 'r', { context: ctx })
  const ac = new AbortController()
  const n = cfg.n
  const settleAt = new Array(n)
  const stage = new Array(n)
  const ps = []
  const gaps = []
  let last = now()
  const iv = setInterval(() => { const t = now(); if (t - last > 30) gaps.push([last, t - last]); last = t }, 5)
  const h = monitorEventLoopDelay({ resolution: 10 }); h.enable()
  const t0 = now()
  for (let i = 0; i < n; i++) {
    const pos = cfg.base + ((i * cfg.spacing) % (cfg.deviceSize - cfg.base - 4096))
    const buf = allocAligned(4096)
    if (cfg.op === 'write') buf.fill(0x5a)
    const p = cfg.op === 'write' ? f.write(buf, { position: pos, signal: ac.signal }) : f.read(buf, { position: pos, signal: ac.signal })
    ps.push(p.then(() => { settleAt[i] = now(); stage[i] = 'ok' }, (e) => { settleAt[i] = now(); stage[i] = e.stage }))
  }
  await sleep(300)
  const abortAt = now()
  ac.abort()
  const abortReturnedMs = now() - abortAt
  await Promise.all(ps)
  const allSettledMs = now() - abortAt
  await sleep(200)
  clearInterval(iv); h.disable()
  await f.close(); await ctx.close()
  const rel = (t) => +(t - abortAt).toFixed(1)
  const q = settleAt.map((t, i) => [rel(t), stage[i]]).filter((x) => x[1] === 'queued').map((x) => x[0]).sort((a, b) => a - b)
  const slow = calls.filter((c) => c[2] > 5).map((c) => [rel(c[0]), c[1], +c[2].toFixed(1), c[3]])
  const around = calls.filter((c) => c[0] - abortAt > -50 && c[0] - abortAt < 1500).map((c) => [rel(c[0]), c[1], +c[2].toFixed(2), c[3]])
  const sum = {}
  for (const c of calls) { const s = (sum[c[1]] ||= { n: 0, ms: 0, max: 0 }); s.n++; s.ms += c[2]; s.max = Math.max(s.max, c[2]) }
  for (const k in sum) { sum[k].ms = +sum[k].ms.toFixed(1); sum[k].max = +sum[k].max.toFixed(1) }
  return {
    backend: ctx.backend, op: cfg.op, abortAtMs: +(abortAt - t0).toFixed(1), abortReturnedMs: +abortReturnedMs.toFixed(1), allSettledMs: +allSettledMs.toFixed(1),
    queued: q.length, queuedSettle: { min: q[0], p50: q[q.length >> 1], max: q[q.length - 1] },
    eld: { maxMs: +(h.max / 1e6).toFixed(1), p99Ms: +(h.percentile(99) / 1e6).toFixed(1), meanMs: +(h.mean / 1e6).toFixed(1) },
    gaps: gaps.map(([t, d]) => [rel(t), +d.toFixed(1)]), callSummary: sum, slowCalls: slow, callsAroundAbort: around.slice(0, 60),
  }
}
main(JSON.parse(process.argv[2])).then((r) => { process.stdout.write(JSON.stringify(r) + '\n') }, (e) => { console.error(e); process.exit(1) })
