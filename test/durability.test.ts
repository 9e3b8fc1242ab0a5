// The durability contract (issue 10, defect 8): sync() and datasync() cover
// every write issued earlier on the same handle, on every backend, so
// `Promise.all([...writes, fh.datasync()])` is a commit. Neither the kernel
// nor the queue orders an fsync after writes still in flight; before the fix
// datasync settled ahead of 26-32 of 32 concurrent 1 MiB writes.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { AbortError, allocAligned, open } from '../lib/index'
import { forEachBackend, scratch } from './helpers/backends'

const WRITES = 32
const SIZE = 1 << 20

function fill(buf: Buffer, seed: number): Buffer {
  for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((seed * 2654435761 + i) >>> 0, i)
  return buf
}

for (const kind of ['datasync', 'sync'] as const) {
  forEachBackend(t, `${kind}() settles after every earlier write on the handle`, async (t, ctx) => {
    const dir = scratch(t)
    const p = path.join(dir, `${kind}.bin`)
    const fh = await open(p, 'w+', { context: ctx })
    t.teardown(() => fh.close())
    const order: string[] = []
    const bufs = Array.from({ length: WRITES }, (_, i) => fill(allocAligned(SIZE), i + 1))
    const writes = bufs.map((b, i) => fh.write(b, 0, SIZE, i * SIZE).then(() => order.push(`w${i}`)))
    const barrier = fh[kind]().then(() => order.push(kind))
    // Writes issued after the sync are not covered and may finish either side of it.
    const late = fh.write(fill(allocAligned(SIZE), 99), 0, SIZE, WRITES * SIZE)
    await Promise.all([...writes, barrier, late])
    const at = order.indexOf(kind)
    const before = order.slice(0, at).filter((x) => x.startsWith('w')).length
    t.equal(before, WRITES, `all ${WRITES} earlier writes settled before ${kind}() (settle order: ${kind} at ${at})`)
    const st = fs.statSync(p)
    t.equal(st.size, (WRITES + 1) * SIZE, 'the file holds every write')
    const check = allocAligned(SIZE)
    for (const i of [0, WRITES - 1]) {
      await fh.read(check, 0, SIZE, i * SIZE)
      t.ok(check.equals(bufs[i]), `write ${i} is on disk`)
    }
  })
}

forEachBackend(t, 'a sync waiting for earlier writes can be aborted: stage queued, never issued', async (t, ctx) => {
  const dir = scratch(t)
  const fh = await open(path.join(dir, 'abort.bin'), 'w+', { context: ctx })
  t.teardown(() => fh.close())
  const writes = Array.from({ length: 8 }, (_, i) => fh.write(fill(allocAligned(SIZE), i), 0, SIZE, i * SIZE))
  const ac = new AbortController()
  const submittedBefore = ctx.stats().requests.submitted
  const sync = fh.datasync({ signal: ac.signal })
  ac.abort()
  const err = await sync.then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(err instanceof AbortError, 'the sync rejects with AbortError')
  t.equal((err as AbortError).stage, 'queued', "stage 'queued'")
  await Promise.all(writes)
  t.equal(ctx.stats().requests.submitted, submittedBefore, 'no sync request entered the queue')
  // The handle stays usable and a later sync still works.
  await fh.datasync()
  t.pass('a later datasync() resolves')
})

forEachBackend(t, 'close() right after a sync waits for the sync', async (t, ctx) => {
  const dir = scratch(t)
  const fh = await open(path.join(dir, 'close.bin'), 'w+', { context: ctx })
  const writes = Array.from({ length: 4 }, (_, i) => fh.write(fill(allocAligned(SIZE), i), 0, SIZE, i * SIZE))
  const sync = fh.datasync()
  const closed = fh.close()
  await Promise.all([...writes, sync, closed])
  t.pass('writes, sync and close all resolved (the fd was not closed under the sync)')
})
