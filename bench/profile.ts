// Profile one (contender, workload) run, to explain a missed target:
//
//   npx tsx bench/profile.ts [--contender KEY] [--workload KEY] [--measure MS]
//       [--warmup MS] [--dir DIR] [--cpu-prof] [--strace] [--perf]
//
// --cpu-prof  V8 sampling profile of the child: JS self time per function,
//             and JS/GC/idle time per I/O
// --strace    `strace -f -c`: system calls per I/O, by call (strace slows the
//             child a lot; the counts are what matter)
// --perf      `perf stat`: task clock and context switches per I/O
// With none of them, the run is plain (a baseline for the others).
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { compileChildren } from './compile'
import { summarise } from './cpuprofile'
import { chooseDir, ensureDataFile } from './datafile'
import { clockTicksPerSecond } from './machine'
import { ALL_CONTENDERS, ALL_WORKLOADS, childEnv, workerConfig } from './matrix'
import { fmt } from './summary'
import type { RunResult } from './types'

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name)
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def
}
const has = (name: string) => process.argv.includes(name)

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function main(): Promise<void> {
  const c = ALL_CONTENDERS.find((x) => x.key === arg('--contender', 'direct-aio-io_uring'))
  const w = ALL_WORKLOADS.find((x) => x.key === arg('--workload', 'randread-4k-d32'))
  if (!c || !w || c.kind === 'fio') throw new Error('unknown or non-Node contender/workload (see bench/matrix.ts)')
  const { dir } = chooseDir(has('--dir') ? arg('--dir', '') : undefined)
  const file = ensureDataFile(dir, w.file === 'write' ? 'direct-aio-bench-write.dat' : 'direct-aio-bench-read.dat', 1 << 30, console.log)
  const warmup = Number(arg('--warmup', '300'))
  const measure = Number(arg('--measure', '3000'))
  const cfg = workerConfig(c, w, file.path, 1 << 30, warmup, measure, 12345)
  const compiled = compileChildren()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-profile-'))
  const env = childEnv(c.env, clockTicksPerSecond())
  try {
    let cmd = process.execPath
    let args = [compiled.worker, JSON.stringify(cfg)]
    if (has('--cpu-prof')) args = ['--cpu-prof', `--cpu-prof-dir=${tmp}`, '--cpu-prof-interval=200', ...args]
    if (has('--strace')) {
      args = ['-f', '-c', '-o', path.join(tmp, 'strace.txt'), cmd, ...args]
      cmd = 'strace'
    } else if (has('--perf')) {
      args = ['stat', '-x', ',', '-o', path.join(tmp, 'perf.txt'), '-e', 'task-clock,context-switches,cpu-migrations,page-faults', cmd, ...args]
      cmd = 'perf'
    }
    const r = await run(cmd, args, env)
    if (r.code !== 0) throw new Error(`child failed (${r.code}): ${r.stderr.slice(0, 2000)}`)
    const res = JSON.parse(r.stdout) as RunResult
    const allOps = Number(res.extra?.allOps)
    console.log(`${c.label}, ${w.title}: ${fmt(res.iops)} IOPS, p50 ${fmt(res.lat.p50)} µs, p99 ${fmt(res.lat.p99)} µs, CPU/IO proc ${fmt(res.cpuProcUs)} µs, machine ${fmt(res.cpuMachineUs)} µs, ${allOps} I/Os in total`)
    console.log(`extra: ${JSON.stringify(res.extra)}`)
    if (has('--cpu-prof')) {
      const prof = fs.readdirSync(tmp).find((f) => f.endsWith('.cpuprofile'))!
      // Only the measured window: the profile clock starts at process start,
      // so skip startup + warm-up generously.
      const startup = 250
      const s = summarise(path.join(tmp, prof), [startup + warmup, startup + warmup + measure])
      const gc = s.fns.find((f) => f.name === '(garbage collector)')?.selfMs ?? 0
      const ops = res.iops * (s.totalMs / 1000)
      console.log(`\nV8 profile of ${s.totalMs.toFixed(0)} ms of the window: idle ${s.idleMs.toFixed(0)} ms, GC ${gc.toFixed(0)} ms; per I/O: ${fmt(((s.totalMs - s.idleMs) * 1000) / ops)} µs on the main thread (not idle), GC ${fmt((gc * 1000) / ops)} µs`)
      console.log('self µs/IO  total µs/IO  function')
      for (const f of s.fns.sort((a, b) => b.selfMs - a.selfMs).slice(0, 30)) {
        console.log(`${fmt((f.selfMs * 1000) / ops).padStart(10)}  ${fmt((f.totalMs * 1000) / ops).padStart(11)}  ${f.name}`)
      }
      fs.copyFileSync(path.join(tmp, prof), path.join(os.tmpdir(), `direct-aio-${c.key}-${w.key}.cpuprofile`))
      console.log(`(profile kept at ${path.join(os.tmpdir(), `direct-aio-${c.key}-${w.key}.cpuprofile`)})`)
    }
    if (has('--strace')) {
      const txt = fs.readFileSync(path.join(tmp, 'strace.txt'), 'utf8')
      console.log(`\nsystem calls per I/O (${allOps} I/Os, including start-up):`)
      for (const line of txt.split('\n')) {
        const m = /^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$/.exec(line)
        if (!m) continue
        const calls = Number(m[4])
        if (calls / allOps < 0.01) continue
        console.log(`  ${m[6].padEnd(20)} ${fmt(calls / allOps).padStart(6)} per I/O  (${calls} calls${m[5] ? `, ${m[5]} errors` : ''})`)
      }
      const total = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total/m.exec(txt)
      if (total) console.log(`  ${'all'.padEnd(20)} ${fmt(Number(total[1]) / allOps).padStart(6)} per I/O`)
    }
    if (has('--perf')) {
      const txt = fs.readFileSync(path.join(tmp, 'perf.txt'), 'utf8')
      console.log(`\nperf stat (whole process life, ${allOps} I/Os):`)
      for (const line of txt.split('\n')) {
        const f = line.split(',')
        if (f.length < 3 || !f[2]) continue
        const v = Number(f[0])
        if (!Number.isFinite(v)) continue
        console.log(`  ${f[2].padEnd(18)} ${fmt(v)} ${f[1]}  = ${fmt(v / allOps)} ${f[1]} per I/O`)
      }
    }
  } finally {
    compiled.cleanup()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
