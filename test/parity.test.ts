// fs.promises parity on DirectFileHandle: stat({ bigint }) and read() with no
// buffer (a fresh aligned buffer, 16 KiB by default, rounded to the block).
// Real files, every backend.
import t from 'tap'
import * as fs from 'node:fs'
import { isAligned, open } from '../lib/index'
import { forEachBackend, randomFile, sameBytes, scratch } from './helpers/backends'

forEachBackend(t, 'stat({ bigint: true }) returns BigIntStats', async (t, ctx) => {
  const dir = scratch(t)
  for (const size of [0, 1, 4097, 10_000]) {
    const { path: p } = randomFile(dir, `s${size}`, size)
    const fh = await open(p, 'r', { context: ctx })
    const big = await fh.stat({ bigint: true })
    t.equal(typeof big.size, 'bigint', 'size is a bigint')
    t.equal(big.size, BigInt(size), `size ${size}n`)
    t.equal(typeof big.mtimeNs, 'bigint', 'mtimeNs present')
    t.equal(big.ino, fs.statSync(p, { bigint: true }).ino, 'same inode as fs.statSync')
    const plain = await fh.stat({ bigint: false })
    t.equal(plain.size, size, '{ bigint: false }: numbers')
    t.equal((await fh.stat()).size, size, 'no options: numbers')
    await t.rejects(fh.stat({ bigint: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' }, 'bigint: 1')
    await t.rejects(fh.stat('x' as unknown as { bigint: true }), { code: 'ERR_INVALID_ARG_TYPE' }, "options 'x'")
    await fh.close()
    await t.rejects(fh.stat({ bigint: true }), { code: 'EBADF', syscall: 'fstat' }, 'after close: EBADF')
  }
})

forEachBackend(t, 'read() without a buffer allocates an aligned one', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'r', 40_000)
  const fh = await open(p, 'r', { context: ctx })
  t.teardown(() => fh.close())
  const block = fh.alignment.offset
  const first = await fh.read()
  t.equal(first.buffer.length, fh.alignUp(16384), `16 KiB by default (rounded to the block, ${block})`)
  t.ok(isAligned(first.buffer, fh.direct ? fh.alignment.memory : 1), 'aligned for this handle')
  t.equal(first.bytesRead, first.buffer.length, 'full read')
  sameBytes(t, first.buffer, data.subarray(0, first.bytesRead), 'the first bytes')
  const second = await fh.read({})
  t.not(second.buffer, first.buffer, 'a fresh buffer each time')
  sameBytes(t, second.buffer.subarray(0, second.bytesRead), data.subarray(first.bytesRead, first.bytesRead + second.bytesRead), 'read({}) continues at the current position')
  const at = await fh.read({ position: 8192, length: 4096 })
  t.equal(at.buffer.length, 4096, 'length picks the size')
  sameBytes(t, at.buffer.subarray(0, at.bytesRead), data.subarray(8192, 12288), 'read({ position, length })')
  const tail = await fh.read({ position: 36_864 })
  t.equal(tail.bytesRead, 40_000 - 36_864, 'short at end of file')
  await t.rejects(fh.read({ length: -1 }), { code: 'ERR_OUT_OF_RANGE' }, 'length -1')
  await t.rejects(fh.read({ position: 'x' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' }, "position 'x'")
  const ac = new AbortController()
  ac.abort()
  await t.rejects(fh.read({ signal: ac.signal }), { name: 'AbortError', stage: 'queued' }, 'pre-aborted')
  if (block > 1) await t.rejects(fh.read({ position: 0, length: 100 }), { code: 'EINVAL' }, 'a misaligned length is refused as for any read')
  const b = await fh.read({ position: 3, length: 100, bounce: true })
  t.equal(b.bytesRead, 100, 'with bounce: any length')
  sameBytes(t, b.buffer.subarray(0, 100), data.subarray(3, 103), 'with bounce: exact bytes')
})
