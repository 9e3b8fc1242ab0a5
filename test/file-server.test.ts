// examples/file-server.mjs, run as a real server on 127.0.0.1 (port 0) once
// per backend and fetched with Node's own fetch: whole files and ranges
// byte-exact for odd sizes, 206/416, a slow reader, and a client that
// disconnects mid-body, after which the server's /_stats show the reads saved.
import t from 'tap'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as path from 'node:path'
import { spawn, ChildProcess } from 'node:child_process'
import { backendRefusal, ALL_BACKENDS, randomFile, sameBytes, scratch } from './helpers/backends'

const ROOT = path.join(__dirname, '..')
const EXAMPLE = path.join(ROOT, 'examples', 'file-server.mjs')
const DIST = path.join(ROOT, 'dist', 'index.js')
const MiB = 1024 * 1024

function distSkip(): string | false {
  if (!fs.existsSync(DIST)) return 'dist/ is not built (npm run build)'
  if (!fs.readFileSync(DIST, 'utf8').includes('createReadStream')) return 'dist/ predates the streams (npm run build)'
  return false
}

async function startServer(t: { teardown(fn: () => void): void; match: (a: string, b: RegExp, m: string) => void }, root: string, backend: string): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [EXAMPLE, '--root', root, '--port', '0', '--max-in-flight', '1', '--read-ahead', '16', '--chunk', String(256 * 1024)], {
    env: { ...process.env, DIRECT_AIO_BACKEND: backend },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 10_000)
    child.stdout!.on('data', (d) => {
      out += d
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(out.split('\n')[0])
      }
    })
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)))
  })
  t.match(line, new RegExp(`^listening on http://127\\.0\\.0\\.1:\\d+ .*\\(backend ${backend}\\)`), 'the server prints one line')
  return /http:\/\/[\d.]+:\d+/.exec(line)![0]
}

async function stats(base: string): Promise<any> {
  return (await fetch(`${base}/_stats`)).json()
}

/** GET with a raw path (fetch would normalise `..` away). */
function rawGet(base: string, p: string): Promise<number> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    http.get({ host: u.hostname, port: u.port, path: p }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    }).on('error', reject)
  })
}

const skip = distSkip()
for (const backend of ALL_BACKENDS) {
  const refusal = backendRefusal(backend)
  t.test(`file server [${backend}]`, { skip: skip || (refusal !== undefined && `${backend} unavailable: ${refusal}`) }, async (t) => {
    const dir = scratch(t)
    const files: Record<number, Buffer> = {}
    for (const size of [0, 1, 511, 4095, 4097, 10_000, MiB + 3]) files[size] = randomFile(dir, `f${size}`, size).data
    const base = await startServer(t, dir, backend)

    for (const [size, data] of Object.entries(files)) {
      const r = await fetch(`${base}/f${size}`)
      t.equal(r.status, 200, `GET f${size}: 200`)
      t.equal(r.headers.get('content-length'), String(size))
      sameBytes(t, Buffer.from(await r.arrayBuffer()), data, `whole file, ${size} bytes`)
    }

    const d = files[10_000]
    const ranges: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0], ['bytes=1-510', 1, 510], ['bytes=4095-4096', 4095, 4096], ['bytes=100-', 100, 9999],
      ['bytes=-100', 9900, 9999], ['bytes=-20000', 0, 9999], ['bytes=9999-99999', 9999, 9999], ['bytes=511-4097', 511, 4097],
    ]
    for (const [h, s, e] of ranges) {
      const r = await fetch(`${base}/f10000`, { headers: { Range: h } })
      t.equal(r.status, 206, `${h}: 206`)
      t.equal(r.headers.get('content-range'), `bytes ${s}-${e}/10000`)
      sameBytes(t, Buffer.from(await r.arrayBuffer()), d.subarray(s, e + 1), `${h}: exact bytes`)
    }
    for (const [file, h] of [['f10000', 'bytes=10000-'], ['f10000', 'bytes=-0'], ['f0', 'bytes=0-']]) {
      const r = await fetch(`${base}/${file}`, { headers: { Range: h } })
      t.equal(r.status, 416, `${file} ${h}: 416`)
      t.match(r.headers.get('content-range'), /^bytes \*\/\d+$/)
      await r.arrayBuffer()
    }
    const multi = await fetch(`${base}/f4097`, { headers: { Range: 'bytes=0-1,5-6' } })
    t.equal(multi.status, 200, 'a multi-range request gets the whole file')
    sameBytes(t, Buffer.from(await multi.arrayBuffer()), files[4097], 'whole file for a multi-range')
    const head = await fetch(`${base}/f4097`, { method: 'HEAD' })
    t.equal(head.headers.get('content-length'), '4097', 'HEAD')
    t.equal((await fetch(`${base}/missing`)).status, 404, 'missing file: 404')
    t.equal(await rawGet(base, '/..%2f..%2fetc%2fpasswd'), 403, 'path outside the root: 403')
    t.equal(await rawGet(base, '/%2e%2e/etc/passwd'), 404, 'dot segments are resolved inside the root: 404')

    // A slow reader: chunks are fresh buffers, so what arrives late is still right.
    const slowData = randomFile(dir, 'slow', 4 * MiB + 1).data
    const slow = await fetch(`${base}/slow`)
    const reader = slow.body!.getReader()
    const parts: Uint8Array[] = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parts.push(value)
      await new Promise((r) => setTimeout(r, 2))
    }
    sameBytes(t, Buffer.concat(parts), slowData, 'slow reader: byte-exact')

    // A client that disconnects mid-body. The server must stop reading (asserted
    // every time). Whether reads are still queued at the moment the disconnect
    // lands depends on timing (a paused server may already have finished its
    // read-ahead), so that part is tried up to 5 times and must show up once.
    randomFile(dir, 'big', 64 * MiB)
    let landed = false
    for (let attempt = 1; attempt <= 5 && !landed; attempt++) {
      const before = await stats(base)
      const ac = new AbortController()
      const big = await fetch(`${base}/big`, { signal: ac.signal })
      const br = big.body!.getReader()
      let got = 0
      while (got < MiB) got += (await br.read()).value!.length
      ac.abort()
      await br.closed.catch(() => {})
      let after = await stats(base)
      for (let i = 0; i < 100 && after.server.aborted === before.server.aborted; i++) {
        await new Promise((r) => setTimeout(r, 50))
        after = await stats(base)
      }
      t.equal(after.server.aborted - before.server.aborted, 1, `attempt ${attempt}: the server saw the disconnect`)
      const notSent = after.server.bytesNotSent - before.server.bytesNotSent
      const cancelled = after.context.requests.cancelledQueued + after.context.requests.cancelledKernel - before.context.requests.cancelledQueued - before.context.requests.cancelledKernel
      const saved = after.context.bytes.saved - before.context.bytes.saved
      const read = after.context.bytes.read - before.context.bytes.read
      t.comment(`attempt ${attempt}: disconnect after ${got} bytes: server read ${read} bytes, ${notSent} bytes never sent, ${cancelled} reads cancelled, ${saved} bytes saved`)
      t.ok(read < 32 * MiB, `attempt ${attempt}: the server stopped reading after ${read} of ${64 * MiB} bytes`)
      t.ok(notSent > 32 * MiB, `attempt ${attempt}: ${notSent} bytes never sent`)
      t.equal(after.context.queued + after.context.depth.current, 0, `attempt ${attempt}: nothing left queued or in flight`)
      landed = saved > 0 && cancelled > 0
    }
    t.ok(landed, 'a disconnect that lands while reads are queued cancels them: the context stats show reads and bytes saved')
  })
}
