// Error shapes, over every backend: O_DIRECT misalignment (caught before
// submission), argument errors, errors the kernel reports, missing files,
// closed handles and contexts, and already-aborted signals.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { Test } from 'tap'
import { AbortError, IoContext, allocAligned, open } from '../lib/index'
import type { DirectFileHandle } from '../lib/index'
import { forEachBackend, randomFile, scratch } from './helpers/backends'

const BLOCK = 4096

/** Await a promise-returning call that must reject (never throw synchronously); return the error. */
async function failure(t: Test, call: () => Promise<unknown>, what: string): Promise<NodeJS.ErrnoException & Record<string, unknown>> {
  let p: Promise<unknown>
  try {
    p = call()
  } catch (e) {
    t.fail(`${what}: threw synchronously instead of rejecting`, { error: e })
    return e as NodeJS.ErrnoException & Record<string, unknown>
  }
  let value: unknown
  try {
    value = await p
  } catch (e) {
    return e as NodeJS.ErrnoException & Record<string, unknown>
  }
  t.fail(`${what}: resolved, expected a rejection`)
  // Do not leak a handle that should never have been opened.
  const v = value as { close?: () => Promise<void> } | null
  if (v && typeof v === 'object' && typeof v.close === 'function') await v.close()
  return new Error('resolved') as NodeJS.ErrnoException & Record<string, unknown>
}

async function openScratch(t: Test, ctx: IoContext, size = 64 * 1024): Promise<{ f: DirectFileHandle; p: string; data: Buffer }> {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'e.bin', size)
  const f = await open(p, 'r+', { context: ctx })
  t.teardown(() => f.close())
  return { f, p, data }
}

forEachBackend(t, 'O_DIRECT misalignment is EINVAL before anything is submitted', async (t, ctx) => {
  const { f, p, data } = await openScratch(t, ctx)
  const { memory, offset } = f.alignment
  t.ok(memory >= 1 && offset >= 1, `alignment memory=${memory} offset=${offset}`)
  if (memory < 2 || offset < 2) {
    t.pass('skipped', { skip: `this filesystem needs no O_DIRECT alignment (memory=${memory}, offset=${offset})` })
    return
  }
  const before = ctx.stats().requests.submitted
  const good = allocAligned(2 * BLOCK)
  const badAddr = allocAligned(2 * BLOCK).subarray(1, 1 + BLOCK) // 1 byte past an aligned address
  const addrPattern = new RegExp(`multiple of ${memory}; got 0x[0-9a-f]+.*allocAligned\\(\\)`)

  const cases: Array<[string, () => Promise<unknown>, 'read' | 'write', RegExp]> = [
    ['read: buffer address', () => f.read(badAddr, 0, BLOCK, 0), 'read', addrPattern],
    ['write: buffer address', () => f.write(badAddr, 0, BLOCK, 0), 'write', addrPattern],
    ['read: offset into buffer makes the address misaligned', () => f.read(good, 1, BLOCK, 0), 'read', addrPattern],
    ['readv: one misaligned buffer', () => f.readv([good.subarray(0, BLOCK), badAddr], 0), 'read', addrPattern],
    ['writev: one misaligned buffer', () => f.writev([badAddr], 0), 'write', addrPattern],
    ['read: position', () => f.read(good, 0, BLOCK, offset + 100), 'read', new RegExp(`position to be a multiple of ${offset}; got ${offset + 100}`)],
    ['write: position', () => f.write(good, 0, BLOCK, 100), 'write', new RegExp(`position to be a multiple of ${offset}; got 100`)],
    ['read: bigint position', () => f.read(good, { position: 100n }), 'read', new RegExp(`multiple of ${offset}; got 100`)],
    ['readv: position', () => f.readv([good], 7), 'read', new RegExp(`multiple of ${offset}; got 7`)],
    ['read: length', () => f.read(good, 0, 100, 0), 'read', new RegExp(`length to be a multiple of ${offset}; got 100`)],
    ['write: length', () => f.write(good, 0, BLOCK + 1, 0), 'write', new RegExp(`length to be a multiple of ${offset}; got ${BLOCK + 1}`)],
    ['readv: a buffer of odd length', () => f.readv([good.subarray(0, BLOCK), good.subarray(BLOCK, BLOCK + 100)], 0), 'read', new RegExp(`length to be a multiple of ${offset}; got 100`)],
    ['writev: a buffer of odd length', () => f.writev([good.subarray(0, 600)], 0), 'write', new RegExp(`multiple of ${offset}; got 600`)],
  ]
  for (const [what, call, syscall, msg] of cases) {
    const e = await failure(t, call, what)
    t.match(e, { code: 'EINVAL', errno: -22, syscall, path: p }, `${what}: EINVAL shape`)
    t.match(e.message, new RegExp(`^EINVAL: invalid argument, ${syscall} '`), `${what}: fs-style message prefix`)
    t.match(e.message, /O_DIRECT/, `${what}: message mentions O_DIRECT`)
    t.match(e.message, msg, `${what}: message names the alignment and the bad value`)
  }
  t.equal(ctx.stats().requests.submitted, before, 'no misaligned request reached the queue')

  // Nothing was written by the refused writes.
  const back = allocAligned(64 * 1024)
  await f.read(back, 0, back.length, 0)
  t.ok(back.equals(data), 'file unchanged')

  // The same misaligned memory is fine on a buffered (direct: false) handle of the same file.
  const g = await open(p, 'r', { context: ctx, direct: false })
  t.teardown(() => g.close())
  t.same(g.alignment, { memory: 1, offset: 1 }, 'buffered handles need no alignment')
  const r = await g.read(badAddr, 0, 100, 3)
  t.equal(r.bytesRead, 100)
  t.ok(badAddr.subarray(0, 100).equals(data.subarray(3, 103)), 'buffered read into misaligned memory at an odd position')
})

forEachBackend(t, 'position-less I/O at an unaligned file position is refused like an explicit one', async (t, ctx) => {
  // A short read at EOF leaves the file position unaligned (here 5000). The next
  // position-less O_DIRECT call would go to the kernel at 5000 and fail there:
  // it must be refused up front, with the same message as an explicit position.
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'pos.bin', 5000)
  const f = await open(p, 'r+', { context: ctx })
  t.teardown(() => f.close())
  if (f.alignment.offset < 2) {
    t.pass('skipped', { skip: 'no offset alignment needed here' })
    return
  }
  t.equal((await f.read(allocAligned(2 * BLOCK))).bytesRead, 5000, 'short read moves the position to 5000')
  const before = ctx.stats().requests.submitted
  const e = await failure(t, () => f.write(allocAligned(BLOCK)), 'position-less write at 5000')
  t.match(e, { code: 'EINVAL', syscall: 'write', path: p })
  t.match(e.message, new RegExp(`position to be a multiple of ${f.alignment.offset}; got 5000`), 'message names the alignment and the position')
  t.equal(ctx.stats().requests.submitted, before, 'refused before submission')
})

forEachBackend(t, 'bad positions, offsets and lengths are ERR_OUT_OF_RANGE', async (t, ctx) => {
  const { f } = await openScratch(t, ctx)
  const before = ctx.stats().requests.submitted
  const buf = allocAligned(2 * BLOCK)
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['read position -2', () => f.read(buf, 0, BLOCK, -2)],
    ['read position -4096', () => f.read(buf, 0, BLOCK, -4096)],
    ['write position -4096', () => f.write(buf, 0, BLOCK, -4096)],
    ['read position 4096.5', () => f.read(buf, 0, BLOCK, 4096.5)],
    ['read position NaN', () => f.read(buf, 0, BLOCK, NaN)],
    ['read position Infinity', () => f.read(buf, 0, BLOCK, Infinity)],
    ['read position -4096n', () => f.read(buf, { position: -4096n })],
    ['read position 2n**63n', () => f.read(buf, 0, BLOCK, 2n ** 63n)],
    ['read position above MAX_SAFE_INTEGER', () => f.read(buf, 0, BLOCK, 2 ** 60)],
    ['readv position -8192', () => f.readv([buf], -8192)],
    ['writev position 0.5', () => f.writev([buf], 0.5)],
    ['read offset + length beyond the buffer', () => f.read(buf, BLOCK, 2 * BLOCK, 0)],
    ['write offset + length beyond the buffer', () => f.write(buf, BLOCK, 2 * BLOCK, 0)],
    ['read offset past the end', () => f.read(buf, 2 * BLOCK + 4096, 0, 0)],
    ['read length beyond the buffer', () => f.read(buf, 0, 3 * BLOCK, 0)],
    ['read options length beyond the buffer', () => f.read(buf, { offset: BLOCK, length: 2 * BLOCK, position: 0 })],
    ['read negative offset', () => f.read(buf, -BLOCK, BLOCK, 0)],
    ['read negative length', () => f.read(buf, 0, -BLOCK, 0)],
    ['read fractional offset', () => f.read(buf, 0.5, BLOCK, 0)],
    ['truncate negative', () => f.truncate(-1)],
  ]
  for (const [what, call] of cases) {
    const e = await failure(t, call, what)
    t.ok(e instanceof RangeError, `${what}: RangeError`)
    t.equal(e.code, 'ERR_OUT_OF_RANGE', `${what}: ERR_OUT_OF_RANGE`)
  }
  t.equal(ctx.stats().requests.submitted, before, 'nothing submitted')
})

forEachBackend(t, 'non-buffer arguments are ERR_INVALID_ARG_TYPE', async (t, ctx) => {
  const { f } = await openScratch(t, ctx)
  const before = ctx.stats().requests.submitted
  const buf = allocAligned(BLOCK)
  const any = f as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['read(string)', () => any.read('abc')],
    ['read(number)', () => any.read(4096)],
    ['read(null)', () => any.read(null)],
    // read() with no buffer reads into a fresh one (test/parity.test.ts).
    ['read(ArrayBuffer)', () => any.read(new ArrayBuffer(BLOCK))],
    ['read(array of numbers)', () => any.read([1, 2, 3])],
    ['read({ buffer: string })', () => any.read({ buffer: 'abc' })],
    ['write(string)', () => any.write('hello', 0)],
    ['write(plain object)', () => any.write({ length: 4096 })],
    ['readv(string)', () => any.readv('abc')],
    ['readv(buffer, not an array)', () => any.readv(buf)],
    ['readv([buffer, object])', () => any.readv([buf, {}])],
    ['writev(null)', () => any.writev(null)],
    ['writev([string])', () => any.writev(['abc'])],
    ['read position string', () => any.read(buf, 0, BLOCK, '0')],
    ['read offset string', () => any.read(buf, '0', BLOCK, 0)],
    ['read length string', () => any.read(buf, 0, '4096', 0)],
    ['read signal not an AbortSignal', () => any.read(buf, { position: 0, signal: {} })],
    ['truncate(string)', () => any.truncate('1')],
  ]
  // Memory that may move (resizable ArrayBuffer) and more than IOV_MAX buffers are refused too.
  const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer
  const rz = await failure(t, () => f.read(new Uint8Array(new Resizable(BLOCK, { maxByteLength: 2 * BLOCK })), 0, BLOCK, 0), 'resizable')
  t.equal(rz.code, 'ERR_INVALID_ARG_VALUE', 'a view of a resizable ArrayBuffer is refused')
  const small = allocAligned(1025 * 512)
  const iov = Array.from({ length: 1025 }, (_, i) => small.subarray(i * 512, (i + 1) * 512))
  const ie = await failure(t, () => f.readv(iov, 0), 'readv 1025 buffers')
  t.equal(ie.code, 'ERR_OUT_OF_RANGE', 'more than 1024 buffers (IOV_MAX)')
  for (const [what, call] of cases) {
    const e = await failure(t, call, what)
    t.ok(e instanceof TypeError, `${what}: TypeError`)
    t.equal(e.code, 'ERR_INVALID_ARG_TYPE', `${what}: ERR_INVALID_ARG_TYPE (${e.message})`)
  }
  t.equal(ctx.stats().requests.submitted, before, 'nothing submitted')
  const oe = await failure(t, () => (open as unknown as (p: unknown) => Promise<unknown>)(42), 'open(42)')
  t.equal(oe.code, 'ERR_INVALID_ARG_TYPE', 'open(number)')
  const ce = await failure(t, () => open(f.path, 'r', { context: {} as IoContext }), 'open context not an IoContext')
  t.equal(ce.code, 'ERR_INVALID_ARG_TYPE', 'open with a non-IoContext context')
})

forEachBackend(t, 'errors the kernel reports are fs-shaped', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'k.bin', 16 * 1024)
  const w = await open(p, 'w', { context: ctx }) // write-only: reads fail in the kernel
  t.teardown(() => w.close())
  const r = await open(p, 'r', { context: ctx }) // read-only: writes fail in the kernel
  t.teardown(() => r.close())
  const before = ctx.stats().requests
  const e1 = await failure(t, () => w.read(allocAligned(BLOCK), 0, BLOCK, 0), 'read on O_WRONLY')
  t.match(e1, { code: 'EBADF', errno: -9, syscall: 'read', path: p, message: `EBADF: bad file descriptor, read '${p}'` })
  const e2 = await failure(t, () => r.write(allocAligned(BLOCK), 0, BLOCK, 0), 'write on O_RDONLY')
  t.match(e2, { code: 'EBADF', errno: -9, syscall: 'write', path: p, message: `EBADF: bad file descriptor, write '${p}'` })
  const e3 = await failure(t, () => w.readv([allocAligned(BLOCK)], 0), 'readv on O_WRONLY')
  t.match(e3, { code: 'EBADF', syscall: 'read' })
  const after = ctx.stats().requests
  t.equal(after.submitted - before.submitted, 3, 'these did go to the kernel')
  t.equal(after.failed - before.failed, 3, 'and are counted as failed')
  t.ok(e1 instanceof Error && !(e1 instanceof AbortError))
})

forEachBackend(t, 'missing file: ENOENT from open', async (t, ctx) => {
  const dir = scratch(t)
  for (const direct of [true, false]) {
    const p = path.join(dir, `missing-${direct}.bin`)
    const e = await failure(t, () => open(p, 'r', { context: ctx, direct }), `open missing (direct ${direct})`)
    t.match(e, { code: 'ENOENT', errno: -2, syscall: 'open', path: p }, `ENOENT shape (direct ${direct})`)
    t.match(e.message, `ENOENT: no such file or directory, open '${p}'`)
    t.ok(e instanceof Error)
  }
  const e = await failure(t, () => open(path.join(dir, 'no', 'such', 'dir', 'x'), 'w+', { context: ctx }), 'create in a missing dir')
  t.match(e, { code: 'ENOENT', syscall: 'open' })
})

forEachBackend(t, 'closed handle: EBADF', async (t, ctx) => {
  const { f, p } = await openScratch(t, ctx)
  await f.close()
  const b = allocAligned(BLOCK)
  const before = ctx.stats().requests.submitted
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['read', () => f.read(b, 0, BLOCK, 0), 'read'],
    ['read (options form)', () => f.read(b, { position: 0 }), 'read'],
    ['write', () => f.write(b, 0, BLOCK, 0), 'write'],
    ['readv', () => f.readv([b], 0), 'read'],
    ['writev', () => f.writev([b], 0), 'write'],
    ['sync', () => f.sync(), 'fsync'],
    ['datasync', () => f.datasync(), 'fdatasync'],
    ['stat', () => f.stat(), 'fstat'],
    ['truncate', () => f.truncate(0), 'ftruncate'],
  ]
  for (const [what, call, syscall] of cases) {
    const e = await failure(t, call, what)
    t.match(e, { code: 'EBADF', errno: -9, syscall, path: p }, `${what} after close: EBADF (${e.message})`)
  }
  t.equal(ctx.stats().requests.submitted, before, 'nothing submitted')
  await f.close()
  t.pass('a second close() resolves')
  t.equal(fs.statSync(p).size, 64 * 1024, 'truncate after close did nothing')
})

forEachBackend(t, 'closed context: ERR_DIRECT_AIO_CONTEXT_CLOSED', async (t, _ctx, backend) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'c.bin', 16 * 1024)
  const ctx = new IoContext({ backend })
  const f = await open(p, 'r+', { context: ctx })
  t.equal(ctx.close(), ctx.close(), 'close() returns the same promise twice')
  await ctx.close()
  t.ok(ctx.closed, 'ctx.closed')
  const shape = { code: 'ERR_DIRECT_AIO_CONTEXT_CLOSED' }
  const b = allocAligned(BLOCK)
  t.match(await failure(t, () => f.read(b, 0, BLOCK, 0), 'read'), shape, 'read on a file of a closed context')
  t.match(await failure(t, () => f.write(b, 0, BLOCK, 0), 'write'), shape, 'write')
  t.match(await failure(t, () => f.readv([b], 0), 'readv'), shape, 'readv')
  t.match(await failure(t, () => f.sync(), 'sync'), shape, 'sync')
  t.match(await failure(t, () => open(p, 'r', { context: ctx }), 'open'), shape, 'open on a closed context')
  t.equal(ctx.stats().requests.submitted, 0, 'nothing submitted')
  await f.close()
  t.pass('the file itself still closes')
})

forEachBackend(t, 'already-aborted signal: AbortError before any I/O', async (t, ctx) => {
  const dir = scratch(t)
  const p = path.join(dir, 'abort.bin')
  fs.writeFileSync(p, Buffer.alloc(64 * 1024))
  const f = await open(p, 'r+', { context: ctx })
  t.teardown(() => f.close())
  const reason = new Error('stop right there')
  const signal = AbortSignal.abort(reason)
  const ones = allocAligned(2 * BLOCK).fill(1)
  const before = ctx.stats()
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['read', () => f.read(allocAligned(BLOCK), { position: 0, signal })],
    ['read (positional args + options)', () => f.read({ buffer: allocAligned(BLOCK), position: 0, signal })],
    ['read without position', () => f.read(allocAligned(BLOCK), { signal })],
    ['write', () => f.write(ones, { position: 0, signal })],
    ['write, zero length', () => f.write(ones, { offset: 0, length: 0, position: 0, signal })],
    ['readv', () => f.readv([allocAligned(BLOCK)], 0, { signal })],
    ['writev', () => f.writev([ones], 0, { signal })],
    ['writev, options in position slot', () => f.writev([ones], { position: 4096, signal } as unknown as number)],
    ['sync', () => f.sync({ signal })],
    ['datasync', () => f.datasync({ signal })],
  ]
  for (const [what, call] of cases) {
    const e = await failure(t, call, what)
    t.ok(e instanceof AbortError, `${what}: instanceof AbortError`)
    t.match(e, { name: 'AbortError', code: 'ABORT_ERR', stage: 'queued', bytesTransferred: 0 }, `${what}: shape`)
    t.same((e as unknown as AbortError).ranges, [], `${what}: no ranges`)
    t.equal(e.cause, reason, `${what}: cause is signal.reason`)
  }
  const after = ctx.stats()
  t.equal(after.requests.submitted, before.requests.submitted, 'stats().requests.submitted unchanged')
  t.equal(after.bytes.read, before.bytes.read, 'no bytes read')
  t.equal(after.bytes.written, before.bytes.written, 'no bytes written')
  t.ok(fs.readFileSync(p).every((x) => x === 0), 'the file was not written')

  // The default reason of AbortController.abort() is carried as the cause too.
  const ac = new AbortController()
  ac.abort()
  const e = await failure(t, () => f.read(allocAligned(BLOCK), { position: 0, signal: ac.signal }), 'default reason')
  t.equal(e.cause, ac.signal.reason, 'cause is the DOMException reason')
  t.equal((ac.signal.reason as Error).name, 'AbortError')

  // The position of a position-less call is not consumed by a refused request.
  const b = allocAligned(BLOCK)
  fs.writeFileSync(p, Buffer.alloc(BLOCK, 9))
  t.equal((await f.read(b)).bytesRead, BLOCK, 'a later position-less read starts at 0')
  t.ok(b.every((x) => x === 9))
})

const TMPFS_MAGIC = 0x01021994

function tmpfsUnavailable(): string | false {
  try {
    const s = fs.statfsSync('/dev/shm')
    return s.type === TMPFS_MAGIC ? false : `/dev/shm is not tmpfs (f_type 0x${s.type.toString(16)})`
  } catch (e) {
    return `/dev/shm unavailable: ${(e as Error).message}`
  }
}

/** Descriptors of this process that refer to `p`. */
function fdsOf(p: string): string[] {
  const out: string[] = []
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === p) out.push(fd)
    } catch {
      // raced with a close
    }
  }
  return out
}

// Since Linux 6.6 tmpfs accepts O_DIRECT at open and quietly serves it from the
// page cache, so the package itself must refuse `direct: true` there: the
// contract is a clear EINVAL at open, not silently buffered "direct" I/O.
t.test('tmpfs (/dev/shm)', { skip: tmpfsUnavailable() }, async (t) => {
  const dir = fs.mkdtempSync('/dev/shm/direct-aio-test-')
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))

  forEachBackend(t, 'direct: true is refused at open with a clear message', async (t, ctx) => {
    const p = path.join(dir, `direct-${ctx.backend}.bin`)
    const submitted = ctx.stats().requests.submitted
    const e = await failure(t, () => open(p, 'w+', { context: ctx }), 'O_DIRECT open on tmpfs')
    t.match(e, { code: 'EINVAL', errno: -22, syscall: 'open', path: p }, 'EINVAL from open')
    t.match(e.message, /O_DIRECT/, 'message mentions O_DIRECT')
    t.match(e.message, /direct: false/, 'message suggests { direct: false }')
    t.same(fdsOf(p), [], 'no descriptor left open on the file')
    t.equal(ctx.stats().requests.submitted, submitted, 'no I/O submitted')
  })

  forEachBackend(t, 'direct: false works (buffered I/O, no alignment)', async (t, ctx) => {
    const p = path.join(dir, `buffered-${ctx.backend}.bin`)
    const f = await open(p, 'w+', { context: ctx, direct: false })
    t.teardown(() => f.close())
    t.equal(f.direct, false)
    const data = Buffer.from(Array.from({ length: 10007 }, (_, i) => (i * 31 + 7) & 0xff))
    const src = Buffer.alloc(data.length + 3)
    data.copy(src, 3)
    t.equal((await f.write(src, 3, data.length, 5)).bytesWritten, data.length, 'unaligned write at an odd position')
    const head = Buffer.alloc(5)
    t.equal((await f.writev([head], 0)).bytesWritten, 5, 'writev')
    await f.datasync()
    const back = Buffer.alloc(data.length + 100)
    const r = await f.read(back, 1, back.length - 1, 0)
    t.equal(r.bytesRead, 5 + data.length, 'short read at EOF')
    t.ok(back.subarray(6, 6 + data.length).equals(data), 'round trip')
    const vs = [Buffer.alloc(7), Buffer.alloc(9)]
    t.equal((await f.readv(vs, 5)).bytesRead, 16, 'readv')
    t.ok(Buffer.concat(vs).equals(data.subarray(0, 16)))
    t.equal((await f.stat()).size, 5 + data.length)
    t.ok(fs.readFileSync(p).subarray(5).equals(data), 'the file holds the data')
  })
})
