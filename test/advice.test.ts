// Error advice (lib/errors.ts, lib/validate.ts, lib/sched/cancel.ts): a
// misaligned view of allocAligned() memory names byteOffset and what to do;
// an 'issued' abort that moved only part of the data says "partially
// completed: X of Y bytes". Real files, every backend; nothing is written.
import t from 'tap'
import * as fs from 'node:fs'
import { AbortError, allocAligned, isAligned, open } from '../lib/index'
import { forEachBackend, randomFile, sameBytes, scratch } from './helpers/backends'

forEachBackend(t, 'misaligned views of aligned memory: the message names byteOffset', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'm', 16384)
  const fh = await open(p, 'r+', { context: ctx })
  t.teardown(() => fh.close())
  const memory = fh.alignment.memory
  if (memory === 1) return t.skip('this file needs no memory alignment')
  t.comment(`memory alignment ${memory}`)
  const sub = allocAligned(8192).subarray(memory > 10 ? 10 : 1)
  const want = /byteOffset \d+ of its ArrayBuffer.*allocAligned\(\) returned the view at byteOffset \d+/
  for (const op of ['read', 'write'] as const) {
    const call = op === 'read' ? fh.read(sub, 0, 4096, 0) : fh.write(sub, 0, 4096, 0)
    await t.rejects(call, { code: 'EINVAL', syscall: op, message: want }, `${op}(allocAligned(8192).subarray(${sub.byteOffset})): names byteOffset`)
  }
  const whole = allocAligned(4096)
  const rebuilt = new Uint8Array(whole.buffer, 0, 4096)
  if (isAligned(rebuilt, memory)) {
    t.comment(`the ArrayBuffer behind allocAligned(4096) happens to start ${memory}-aligned here (byteOffset ${whole.byteOffset})`)
  } else {
    await t.rejects(fh.read(rebuilt, 0, 4096, 0), { code: 'EINVAL', message: /starts at byteOffset 0 of its ArrayBuffer.*must add its \.byteOffset/ }, 'new Uint8Array(allocAligned(4096).buffer, 0, 4096): says to add .byteOffset')
  }
  const ordinary = Buffer.alloc(8192)
  const off = isAligned(ordinary, memory) ? 1 : 0
  await t.rejects(fh.read(ordinary.subarray(off), 0, 4096, 0), { code: 'EINVAL', message: /Allocate the buffer with allocAligned\(\)/ }, 'ordinary memory keeps the old advice')
  sameBytes(t, fs.readFileSync(p), data, 'nothing was written')
})

t.test('AbortError message for a partial issued abort', async (t) => {
  const e = new AbortError('issued', 2 * 1024 * 1024, [[0, 2 * 1024 * 1024]], 'why', 64 * 1024 * 1024)
  t.match(e.message, /partially completed: 2097152 of 67108864 bytes/, 'partial: X of Y')
  t.notMatch(e.message, /too late/, 'not "too late"')
  const full = new AbortError('issued', 4096, [[0, 4096]], 'why', 4096)
  t.match(full.message, /too late: it had reached the device \(4096 bytes transferred\)/, 'all of it ran: too late, as before')
  t.match(new AbortError('issued', 10, [], undefined).message, /too late/, 'requested unknown: as before')
})

forEachBackend(
  t,
  'a real issued abort that moved part of a large read says partially completed',
  async (t, ctx) => {
    const dir = scratch(t)
    const size = 32 * 1024 * 1024
    const { path: p } = randomFile(dir, 'big', size)
    const fh = await open(p, 'r', { context: ctx })
    t.teardown(() => fh.close())
    const buf = allocAligned(size)
    let seen: AbortError | null = null
    for (let attempt = 0; attempt < 20 && !seen; attempt++) {
      const ac = new AbortController()
      const read = fh.read(buf, { position: 0, signal: ac.signal })
      setTimeout(() => ac.abort(), attempt % 4)
      const r = await read.then(() => null, (e: unknown) => e)
      if (r instanceof AbortError && r.stage === 'issued' && r.bytesTransferred > 0 && r.bytesTransferred < size) seen = r
    }
    if (!seen) return t.skip('no abort landed part-way in 20 attempts (timing)')
    t.match(seen.message, new RegExp(`partially completed: ${seen.bytesTransferred} of ${size} bytes`), `message: ${seen.message}`)
  },
  { chunkSize: 256 * 1024, maxChunksInFlight: 1 },
)
