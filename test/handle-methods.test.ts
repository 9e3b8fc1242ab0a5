// The application API as DirectFileHandle methods (lib/api/file.ts delegating
// to lib/api/*): readFile/writeFile/readAt/streams/space/locks on the handle,
// alloc/alignUp/alignDown for this handle's alignment, and close() waiting
// for space calls still running. Real files, every backend.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { isAligned, open } from '../lib/index'
import { forEachBackend, randomFile, sameBytes, scratch } from './helpers/backends'

const SIZES = [0, 1, 511, 4095, 4097, 10_000]

async function drain(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of s) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

forEachBackend(t, 'handle methods: whole files, ranges, streams', async (t, ctx) => {
  const dir = scratch(t)
  for (const size of SIZES) {
    const { path: p, data } = randomFile(dir, `f${size}`, size)
    const fh = await open(p, 'r+', { context: ctx })
    sameBytes(t, await fh.readFile(), data, `fh.readFile: ${size} bytes`)
    const a = Math.floor(size / 3)
    sameBytes(t, await fh.readAt(a, size - a + 7), data.subarray(a), `fh.readAt(${a}, ...) clipped at EOF`)
    sameBytes(t, await drain(fh.createReadStream({ start: 1 })), data.subarray(1), `fh.createReadStream: ${size} bytes from 1`)
    const web = fh.readableWebStream()
    const parts: Uint8Array[] = []
    for await (const c of web as unknown as AsyncIterable<Uint8Array>) parts.push(c)
    sameBytes(t, Buffer.concat(parts), data, `fh.readableWebStream: ${size} bytes`)
    const next = Buffer.from(data).reverse()
    await fh.writeFile(next, { sync: true })
    t.equal(fs.statSync(p).size, size, `fh.writeFile keeps the true length ${size}`)
    sameBytes(t, fs.readFileSync(p), next, `fh.writeFile: ${size} bytes`)
    const ws = fh.createWriteStream({ start: 0 })
    ws.end(data)
    await new Promise((resolve, reject) => ws.on('finish', resolve).on('error', reject))
    sameBytes(t, fs.readFileSync(p), data, `fh.createWriteStream: ${size} bytes`)
    await fh.close()
  }
})

forEachBackend(t, 'handle methods: alloc, alignUp, alignDown use this handle\'s alignment', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'a', 4096)
  const fh = await open(p, 'r', { context: ctx })
  t.teardown(() => fh.close())
  const { memory, offset } = fh.alignment
  t.comment(`alignment memory ${memory}, offset ${offset}`)
  for (const n of [0, 1, offset - 1, offset, offset + 1, 10_000]) {
    const b = fh.alloc(n)
    t.equal(b.length, Math.ceil(n / offset) * offset, `alloc(${n}) rounds up to the block`)
    t.ok(isAligned(b, memory), `alloc(${n}) is aligned to ${memory}`)
    t.equal(fh.alignUp(n), Math.ceil(n / offset) * offset, `alignUp(${n})`)
    t.equal(fh.alignDown(n), Math.floor(n / offset) * offset, `alignDown(${n})`)
  }
  const b = fh.alloc(10_000)
  const { bytesRead } = await fh.read(b, { position: 0 })
  t.equal(bytesRead, 4096, 'a buffer from fh.alloc() is accepted by read as is')
  t.throws(() => fh.alloc(-1), { code: 'ERR_OUT_OF_RANGE' }, 'alloc(-1)')
  t.throws(() => fh.alignUp('1' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' }, 'alignUp("1")')
  const buffered = await open(p, 'r', { context: ctx, direct: false })
  t.equal(buffered.alignUp(3), 3, 'a buffered handle has block 1')
  await buffered.close()
})

forEachBackend(t, 'handle methods: space and locks; close waits for them', async (t, ctx) => {
  const dir = scratch(t)
  const p = path.join(dir, 's')
  const fh = await open(p, 'w+', { context: ctx })
  try {
    await fh.allocate(0, 1 << 20)
  } catch (e) {
    await fh.close()
    if ((e as { code?: string }).code === 'EOPNOTSUPP') return t.skip('the filesystem refuses fallocate (EOPNOTSUPP)')
    throw e
  }
  t.equal(fs.statSync(p).size, 1 << 20, 'fh.allocate grows the file')
  await fh.punchHole(0, 4096)
  t.equal(fs.statSync(p).size, 1 << 20, 'fh.punchHole keeps the size')
  t.equal(await fh.lock(), true, 'fh.lock() takes the lock')
  const other = await open(p, 'r', { context: ctx })
  t.equal(await other.lock({ exclusive: false }), false, 'another open file is refused')
  await fh.unlock()
  t.equal(await other.lock({ exclusive: false }), true, 'after fh.unlock() it is granted')
  await other.close()
  // close() right after starting a space call: it waits, and the call succeeds.
  const pending = fh.allocate(1 << 20, 1 << 20)
  const closing = fh.close()
  await pending
  await closing
  t.equal(fs.statSync(p).size, 2 << 20, 'the allocate started before close() completed')
  await t.rejects(fh.allocate(0, 1), { code: 'EBADF', syscall: 'fallocate' }, 'after close: EBADF')
  await t.rejects(fh.lock(), { code: 'EBADF', syscall: 'flock' }, 'lock after close: EBADF')
  await t.rejects(fh.unlock(), { code: 'EBADF', syscall: 'flock' }, 'unlock after close: EBADF')
})

forEachBackend(t, 'handle methods: aborts and bad input write nothing', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'b', 10_000)
  const fh = await open(p, 'r+', { context: ctx })
  t.teardown(() => fh.close())
  const ac = new AbortController()
  ac.abort()
  const signal = ac.signal
  await t.rejects(fh.readFile({ signal }), { name: 'AbortError', stage: 'queued' }, 'readFile pre-aborted')
  await t.rejects(fh.readAt(1, 2, { signal }), { name: 'AbortError', stage: 'queued' }, 'readAt pre-aborted')
  await t.rejects(fh.writeFile('x', { signal }), { name: 'AbortError', stage: 'queued' }, 'writeFile pre-aborted')
  await t.rejects(fh.allocate(0, 4096, { signal }), { name: 'AbortError', stage: 'queued' }, 'allocate pre-aborted')
  await t.rejects(fh.lock({ signal }), { name: 'AbortError', stage: 'queued' }, 'lock pre-aborted')
  await t.rejects(fh.readAt(-1, 2), { code: 'ERR_OUT_OF_RANGE' }, 'readAt(-1)')
  await t.rejects(fh.writeFile(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' }, 'writeFile(42)')
  await t.rejects(fh.allocate(0, 0), { code: 'ERR_OUT_OF_RANGE' }, 'allocate length 0')
  await t.rejects(fh.punchHole(-1, 1), { code: 'ERR_OUT_OF_RANGE' }, 'punchHole(-1)')
  await t.rejects(fh.lock({ wait: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' }, 'lock wait: "yes"')
  t.throws(() => fh.createReadStream({ start: -1 }), { code: 'ERR_OUT_OF_RANGE' }, 'createReadStream start -1')
  t.throws(() => fh.createWriteStream({ highWaterMark: 0 }), { code: 'ERR_OUT_OF_RANGE' }, 'createWriteStream hwm 0')
  sameBytes(t, fs.readFileSync(p), data, 'nothing was written')
  const rs = fh.createReadStream({ signal })
  await t.rejects(drain(rs), { name: 'AbortError' }, 'a read stream on an aborted signal errors with AbortError')
})

t.test('DirectFileHandle cannot be constructed directly', async (t) => {
  const { DirectFileHandle } = await import('../lib/index')
  const Ctor = DirectFileHandle as unknown as new (...args: unknown[]) => unknown
  t.throws(() => new Ctor(3, '/x', true), { name: 'TypeError', code: 'ERR_ILLEGAL_CONSTRUCTOR' }, 'new DirectFileHandle(3, ...) throws')
  t.throws(() => new Ctor(Symbol('direct-aio.construct'), { fd: 3 }), { code: 'ERR_ILLEGAL_CONSTRUCTOR' }, 'a look-alike token does not work')
})
