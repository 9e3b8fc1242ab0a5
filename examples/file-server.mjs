#!/usr/bin/env node
// An HTTP file server on direct-aio: every body is a direct-I/O read stream
// (O_DIRECT, read-ahead, fresh chunk buffers), single Range requests get 206
// or 416, and a client that goes away aborts the reads still queued or in
// flight. GET /_stats shows the context's counters and the server's own.
//
//   node examples/file-server.mjs --root DIR [--port 8080] [--host 127.0.0.1]
//        [--chunk 262144] [--read-ahead 8] [--max-in-flight auto]
//
// It prints one line, "listening on http://HOST:PORT ...", when ready.
import * as http from 'node:http'
import * as path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { IoContext, createReadStream, open } from 'direct-aio'

const { values: args } = parseArgs({
  options: {
    root: { type: 'string', default: process.cwd() },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    chunk: { type: 'string', default: String(256 * 1024) },
    'read-ahead': { type: 'string', default: '8' },
    'max-in-flight': { type: 'string', default: 'auto' },
  },
})

const root = path.resolve(args.root)
const highWaterMark = Number(args.chunk)
const readAhead = Number(args['read-ahead'])
const maxInFlight = args['max-in-flight'] === 'auto' ? 'auto' : Number(args['max-in-flight'])
const context = new IoContext({ maxInFlight })
const counters = { requests: 0, completed: 0, aborted: 0, failed: 0, bytesSent: 0, bytesNotSent: 0 }

/** Parse a single `bytes=` range against `size`: [start, end] inclusive, 'unsatisfiable', or null (serve it all). */
function parseRange(header, size) {
  if (!header) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return null // malformed or a multi-range: ignore, as RFC 9110 allows
  let start
  let end
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) return 'unsatisfiable'
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
    if (m[2] !== '' && Number(m[2]) < start) return null
  }
  if (start >= size) return 'unsatisfiable'
  return [start, end]
}

async function serveFile(req, res, file) {
  let fh
  try {
    fh = await open(file, 'r', { context })
  } catch (e) {
    res.writeHead(e.code === 'ENOENT' ? 404 : e.code === 'EISDIR' ? 403 : 500).end(`${e.code}\n`)
    return
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) return void res.writeHead(403).end('not a file\n')
    const size = st.size
    const range = parseRange(req.headers.range, size)
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes' }).end()
      return
    }
    const [start, end] = range ?? [0, size - 1]
    const length = size === 0 ? 0 : end - start + 1
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(length), 'Accept-Ranges': 'bytes' }
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`
    res.writeHead(range ? 206 : 200, headers)
    if (req.method === 'HEAD' || length === 0) return void res.end()
    const body = createReadStream(fh, { start, end, highWaterMark, readAhead })
    const closed = new Promise((resolve) => body.once('close', resolve))
    let outcome = 'completed'
    try {
      // If the client goes away, pipeline destroys `body`, which aborts its reads.
      await pipeline(body, res)
    } catch (e) {
      outcome = res.destroyed || e.code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'aborted' : 'failed'
    }
    await closed // every read has settled: the context's stats now include them
    counters[outcome]++
    counters.bytesSent += body.bytesRead
    counters.bytesNotSent += length - body.bytesRead
  } finally {
    await fh.close()
  }
}

const server = http.createServer((req, res) => {
  counters.requests++
  const url = new URL(req.url, 'http://x')
  if (url.pathname === '/_stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    return void res.end(JSON.stringify({ server: counters, context: context.stats() }))
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { Allow: 'GET, HEAD' }).end()
  const file = path.resolve(root, '.' + decodeURIComponent(url.pathname))
  if (file !== root && !file.startsWith(root + path.sep)) return void res.writeHead(403).end('outside the root\n')
  serveFile(req, res, file).catch((e) => {
    counters.failed++
    if (!res.headersSent) res.writeHead(500).end(`${e.code ?? e.message}\n`)
    else res.destroy(e)
  })
})

server.listen(Number(args.port), args.host, () => {
  const { port } = server.address()
  console.log(`listening on http://${args.host}:${port} serving ${root} (backend ${context.backend}); GET /_stats for read and abort counters`)
})

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    server.close()
    server.closeAllConnections?.()
    context.close().finally(() => process.exit(0))
  })
}
