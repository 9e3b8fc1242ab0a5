// Summarise a V8 .cpuprofile (from `node --cpu-prof`): self and total time
// by function, optionally for a time window only, and a timeline of busy
// time to find that window. Used to explain a missed target.
//
//   npx tsx bench/cpuprofile.ts FILE.cpuprofile [--top N] [--filter SUBSTR]
//       [--window FROM_MS,TO_MS] [--timeline BUCKET_MS]
import * as fs from 'node:fs'
import * as path from 'node:path'

interface CpuNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: CpuNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface FnTime {
  name: string
  selfMs: number
  totalMs: number
}

function frameName(n: CpuNode): string {
  const f = n.callFrame
  const file = f.url ? path.basename(f.url.replace(/^file:\/\//, '')) : ''
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`
}

export function summarise(file: string, window?: [number, number]): { totalMs: number; idleMs: number; fns: FnTime[]; timeline: (bucketMs: number) => number[] } {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
  const byId = new Map<number, CpuNode>()
  const parent = new Map<number, number>()
  for (const n of p.nodes) {
    byId.set(n.id, n)
    for (const c of n.children ?? []) parent.set(c, n.id)
  }
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  let all = 0
  let idle = 0
  const at: number[] = []
  let t = 0
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] / 1000
    at.push(t)
  }
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000
    if (window && (at[i] < window[0] || at[i] > window[1])) continue
    const node = byId.get(p.samples[i])!
    const name = frameName(node)
    all += dt
    if (node.callFrame.functionName === '(idle)') idle += dt
    self.set(name, (self.get(name) ?? 0) + dt)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const nm = frameName(byId.get(id)!)
      if (seen.has(nm)) continue
      seen.add(nm)
      total.set(nm, (total.get(nm) ?? 0) + dt)
    }
  }
  const fns = [...self.keys(), ...total.keys()]
    .filter((v, i, a) => a.indexOf(v) === i)
    .map((name) => ({ name, selfMs: self.get(name) ?? 0, totalMs: total.get(name) ?? 0 }))
  const timeline = (bucketMs: number): number[] => {
    const out: number[] = []
    for (let i = 0; i < p.samples.length; i++) {
      if (byId.get(p.samples[i])!.callFrame.functionName === '(idle)') continue
      const b = Math.floor(at[i] / bucketMs)
      while (out.length <= b) out.push(0)
      out[b] += (p.timeDeltas[i + 1] ?? 0) / 1000
    }
    return out
  }
  return { totalMs: all, idleMs: idle, fns, timeline }
}

if (require.main === module) {
  const args = process.argv.slice(2)
  const file = args.find((a) => !a.startsWith('--'))
  if (!file) {
    process.stderr.write('usage: tsx bench/cpuprofile.ts FILE.cpuprofile [--top N] [--filter SUBSTR]\n')
    process.exit(2)
  }
  const top = Number(args[args.indexOf('--top') + 1]) || 25
  const filter = args.includes('--filter') ? args[args.indexOf('--filter') + 1] : null
  const win = args.includes('--window') ? (args[args.indexOf('--window') + 1].split(',').map(Number) as [number, number]) : undefined
  const s = summarise(file, win)
  if (args.includes('--timeline')) {
    const bucket = Number(args[args.indexOf('--timeline') + 1]) || 10
    const tl = s.timeline(bucket)
    process.stdout.write(`busy ms per ${bucket} ms bucket:\n`)
    tl.forEach((v, i) => {
      if (v > 0.05) process.stdout.write(`  ${String(i * bucket).padStart(6)} ms  ${v.toFixed(1).padStart(6)}  ${'#'.repeat(Math.round((v / bucket) * 40))}\n`)
    })
  }
  process.stdout.write(`sampled ${s.totalMs.toFixed(1)} ms, idle ${s.idleMs.toFixed(1)} ms\n\nself ms  total ms  function\n`)
  const rows = s.fns.filter((f) => !filter || f.name.includes(filter))
  for (const f of rows.sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
    process.stdout.write(`${f.selfMs.toFixed(1).padStart(7)}  ${f.totalMs.toFixed(1).padStart(8)}  ${f.name}\n`)
  }
  process.stdout.write('\nby total time:\n')
  for (const f of rows.sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
    process.stdout.write(`${f.selfMs.toFixed(1).padStart(7)}  ${f.totalMs.toFixed(1).padStart(8)}  ${f.name}\n`)
  }
}
