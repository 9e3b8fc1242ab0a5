// Same-round ratios between any two contenders of a saved app-loop run:
//   npx tsx bench/ab-pairs.ts bench/results/app-loop-....json A_KEY B_KEY
// prints, per workload, A ÷ B for IOPS, CPU per I/O and p99.9 (median, min–max).
import * as fs from 'node:fs'
import { fmtSpread, spread } from './summary'
import type { RunResult } from './types'

const [file, a, b] = process.argv.slice(2)
if (!file || !a || !b) throw new Error('usage: ab-pairs.ts FILE.json A_KEY B_KEY')
const out = JSON.parse(fs.readFileSync(file, 'utf8')) as { runs: RunResult[] }
const workloads = [...new Set(out.runs.map((r) => r.workload))]
for (const w of workloads) {
  const rs = out.runs.filter((r) => r.workload === w && r.ok)
  const ratio = (f: (r: RunResult) => number) =>
    rs.filter((r) => r.contender === a).map((x) => {
      const y = rs.find((r) => r.contender === b && r.round === x.round)
      return y ? f(x) / f(y) : NaN
    })
  console.log(`${w.padEnd(18)} ${a} ÷ ${b}: IOPS ${fmtSpread(spread(ratio((r) => r.iops)))}  CPU/IO ${fmtSpread(spread(ratio((r) => r.cpuProcUs)))}  p99.9 ${fmtSpread(spread(ratio((r) => r.lat.p999)))}`)
}
