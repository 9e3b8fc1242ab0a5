// Runs scratch/aio61-child.js in a 50-IOPS throttled cgroup over a loop device,
// like test/cancel.test.ts, for the given backends/ops; optionally under strace.
'use strict'
const path = require('node:path')
const fs = require('node:fs')
const { CongestedDevice } = require(path.join(__dirname, '..', 'dist', 'tools', 'congest.js'))
const child = path.join(__dirname, 'aio61-child.js')
const reps = +(process.env.REPS || 1)
const combos = (process.env.COMBOS || 'libaio:write,io_uring:write,libaio:read,io_uring:read').split(',')
const strace = process.env.STRACE === '1'
;(async () => {
  const dev = CongestedDevice.create({ fill: 'zero', sizeMiB: 256, readIops: 50, writeIops: 50 })
  const name = dev.loop.replace('/dev/', '')
  console.log(`# ${require('os').release()} ${dev.loop} nr_requests=${fs.readFileSync(`/sys/block/${name}/queue/nr_requests`, 'utf8').trim()} scheduler=${fs.readFileSync(`/sys/block/${name}/queue/scheduler`, 'utf8').trim()} wbt=${(() => { try { return fs.readFileSync(`/sys/block/${name}/queue/wbt_lat_usec`, 'utf8').trim() } catch { return 'n/a' } })()} loadavg=${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`)
  try {
    for (let r = 0; r < reps; r++) for (const c of combos) {
      const [backend, op] = c.split(':')
      await dev.settle(150)
      const cfg = { backend, op, n: 400, base: 128 << 20, spacing: 64 << 10, path: dev.loop, deviceSize: dev.sizeBytes }
      const out = `/var/tmp/strace-${backend}-${op}-${r}.txt`
      const nodeArgs = []
      let script = child, args = [JSON.stringify(cfg)]
      let res
      if (strace) {
        // strace wraps node: run `strace ... node child cfg` inside the cgroup
        res = await new Promise((resolve) => {
          const { spawn } = require('node:child_process')
          const p = spawn('bash', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dev.cgroup, 'strace', '-f', '-tt', '-T', '-e', 'trace=io_submit,io_cancel,io_getevents,io_uring_enter', '-o', out, process.execPath, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
          let so = '', se = ''
          p.stdout.on('data', (d) => (so += d)); p.stderr.on('data', (d) => (se += d))
          p.on('close', (code) => resolve({ code, stdout: so, stderr: se }))
        })
      } else res = await dev.run(script, args, { timeoutMs: 120000, nodeArgs })
      if (res.code !== 0) { console.log(`# ${c} failed ${res.code}: ${res.stderr.slice(0, 2000)}`); continue }
      console.log(res.stdout.trim())
      if (strace) {
        const lines = fs.readFileSync(out, 'utf8').split('\n')
        const slow = lines.filter((l) => { const m = l.match(/<([\d.]+)>$/); return m && +m[1] > 0.005 && !/io_getevents\(.*, 1, /.test(l) })
        console.log(`# strace ${c}: ${lines.length} lines; calls > 5 ms (excluding the blocking 1-min io_getevents waiter):`)
        for (const l of slow.slice(0, 40)) console.log('#   ' + l)
      }
    }
  } finally { dev.destroy() }
})()
