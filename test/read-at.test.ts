// readAt (lib/api/read-at.ts): exact [position, position + length) for any
// position and length, clipped at EOF, on every backend; a view, not a copy;
// aborts and bad input.
import t from 'tap'
import { isAligned, open, readAt } from '../lib/index'
import { forEachBackend, randomFile, rng, sameBytes, scratch } from './helpers/backends'

forEachBackend(t, 'readAt: any position and length, clipped at EOF', async (t, ctx) => {
  const dir = scratch(t)
  const r = rng(t)
  for (const size of [0, 1, 511, 4095, 4097, 10_000]) {
    const { path: p, data } = randomFile(dir, `f${size}`, size)
    const fh = await open(p, 'r', { context: ctx })
    const cases: Array<[number, number]> = [
      [0, 0], [0, 1], [0, size], [0, size + 1], [1, 1], [511, 2], [512, 512], [4095, 2], [4096, 1], [size, 1], [size + 5000, 10], [3, 10_000],
    ]
    for (let i = 0; i < 40; i++) cases.push([r.int(size + 600), r.int(6000)])
    for (const [pos, len] of cases) {
      const got = await readAt(fh, pos, len)
      sameBytes(t, got, data.subarray(pos, pos + len), `size ${size}: [${pos}, +${len})`)
    }
    await fh.close()
  }
})

forEachBackend(t, 'readAt returns a view of the aligned read, many in parallel', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p, data } = randomFile(dir, 'v', 64 * 1024 + 17)
  const fh = await open(p, 'r', { context: ctx })
  t.teardown(() => fh.close())
  const got = await readAt(fh, 4097, 100)
  t.equal(got.length, 100)
  const block = fh.alignment.offset
  const start = new Uint8Array(got.buffer, got.byteOffset - (4097 % block), 0)
  t.ok(isAligned(start, fh.alignment.memory), `the view sits ${4097 % block} bytes into the aligned read of the rounded-out range (no copy)`)
  t.ok(got.buffer.byteLength >= block, 'the memory behind it holds whole blocks')
  const all = await Promise.all(Array.from({ length: 64 }, (_, i) => readAt(fh, i * 1000 + 3, 999)))
  all.forEach((b, i) => sameBytes(t, b, data.subarray(i * 1000 + 3, i * 1000 + 3 + 999), `parallel read ${i}`))
})

forEachBackend(t, 'readAt: aborts and bad input', async (t, ctx) => {
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'a', 8 * 1024 * 1024)
  const fh = await open(p, 'r', { context: ctx })
  await t.rejects(readAt(fh, 1, 10, { signal: AbortSignal.abort() }), { name: 'AbortError', stage: 'queued' }, 'pre-aborted')
  await t.rejects(readAt(fh, 1, 0, { signal: AbortSignal.abort() }), { name: 'AbortError', stage: 'queued' }, 'pre-aborted, zero length')
  const ac = new AbortController()
  const pending = readAt(fh, 3, 8 * 1024 * 1024 - 10, { signal: ac.signal })
  ac.abort()
  const e = await pending.then(() => null, (err) => err)
  t.ok(e === null || e.name === 'AbortError', `mid-way abort: ${e ? `AbortError stage ${e.stage}` : 'completed first'}`)
  for (const [pos, len, code] of [[-1, 1, 'ERR_OUT_OF_RANGE'], [1.5, 1, 'ERR_OUT_OF_RANGE'], ['0', 1, 'ERR_INVALID_ARG_TYPE'], [0, -1, 'ERR_OUT_OF_RANGE'], [0, 2 ** 53, 'ERR_OUT_OF_RANGE'], [2 ** 53 - 2, 10, 'ERR_OUT_OF_RANGE']] as const) {
    await t.rejects(readAt(fh, pos as number, len as number), { code }, `readAt(${pos}, ${len}) → ${code}`)
  }
  await t.rejects(readAt({} as never, 0, 1), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(readAt(fh, 0, 1, { signal: 'x' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  await fh.close()
  await t.rejects(readAt(fh, 0, 1), { code: 'EBADF', syscall: 'read' }, 'after close')
})
