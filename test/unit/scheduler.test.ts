// lib/sched/scheduler.ts against a fake backend: what enters the kernel and
// when, one submit per flush, chunking, aborts at each stage, errors, short
// transfers, indivisible requests, draining. No addon, no root.
import t from 'tap'
import { ECANCELED, EIO, OP_FSYNC } from '../../lib/sys-constants'
import { DeviceQueue } from '../../lib/sched/device-queue'
import { createPolicy } from '../../lib/sched/policy'
import { fakeScheduler, request, tick } from '../helpers/fake-backend'

t.test('requests queued in one turn go out with one submit, up to the device limit', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 8, limit: 3 })
  const rs = Array.from({ length: 5 }, () => request(device))
  for (const r of rs) sched.enqueue(r.req)
  t.equal(backend.prepped.length, 0, 'nothing prepped before the flush')
  await tick()
  t.equal(backend.submits, 1, 'one submit')
  t.equal(backend.inKernel.size, 3, 'three in the kernel (device limit)')
  t.equal(sched.depth, 3, 'depth is the number of chunks in flight')
  t.equal(sched.queuedCount, 2)
  while (backend.inKernel.size > 0) backend.completeOldest()
  const out = await Promise.all(rs.map((r) => r.done))
  t.same(out.map((o) => o.bytes), [4096, 4096, 4096, 4096, 4096])
  t.equal(sched.stats.completed, 5)
  t.equal(sched.stats.peakDepth, 3)
  t.equal(sched.depth, 0)
})

t.test('strict priority, FIFO within a priority (default policy)', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 1 })
  const order: number[] = []
  const rs = [0, 5, 0, 9, 5].map((priority, i) => {
    const r = request(device, { priority, position: i * 4096 })
    r.done.then(() => order.push(i))
    return r
  })
  for (const r of rs) sched.enqueue(r.req)
  await tick()
  while (backend.inKernel.size > 0) {
    backend.completeOldest()
    await tick()
  }
  await Promise.all(rs.map((r) => r.done))
  t.same(order, [3, 1, 4, 0, 2], 'queued in one turn: 9, then 5, 5 in arrival order, then 0, 0')
})

t.test('a large request is split into chunks, at most maxChunksInFlight at once', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 16 })
  const r = request(device, { length: 5 * 4096, chunkSize: 4096, maxChunksInFlight: 2 })
  sched.enqueue(r.req)
  await tick()
  t.equal(backend.inKernel.size, 2, 'two chunks in flight')
  t.same([...backend.inKernel.values()].map((o) => o.position), [0, 4096])
  while (backend.inKernel.size > 0) backend.completeOldest()
  t.same((await r.done).bytes, 5 * 4096)
  t.same(backend.prepped.map((o) => o.position), [0, 4096, 8192, 12288, 16384], 'every chunk at its position')
})

t.test('a short chunk stops the request (end of file)', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 16 })
  const r = request(device, { length: 4 * 4096, chunkSize: 4096, maxChunksInFlight: 1 })
  sched.enqueue(r.req)
  await tick()
  backend.completeOldest()
  backend.completeOldest(100)
  t.equal((await r.done).bytes, 4096 + 100)
  t.equal(backend.prepped.length, 2, 'no chunk after the short one')
  t.equal(r.req.state, 'settled')
})

t.test('an errno rejects with an fs-shaped error', async (t) => {
  const { sched, backend, device } = fakeScheduler()
  const r = request(device)
  sched.enqueue(r.req)
  await tick()
  backend.completeOldest(EIO)
  const { error } = await r.done
  t.match(error, { code: 'EIO', syscall: 'read', path: '/fake' })
  t.equal(sched.stats.failed, 1)
})

t.test('abort while queued: dropped, never prepped, stage queued', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 1 })
  const first = request(device)
  const second = request(device)
  sched.enqueue(first.req)
  sched.enqueue(second.req)
  await tick()
  t.equal(second.req.state, 'queued')
  sched.abort(second.req, 'stop')
  const { error } = await second.done
  t.match(error, { name: 'AbortError', stage: 'queued', cause: 'stop' })
  t.equal(sched.queuedCount, 0, 'no longer counted as waiting')
  backend.completeOldest()
  await first.done
  await tick()
  t.equal(backend.prepped.length, 1, 'the aborted request never reached the backend')
  t.equal(sched.stats.cancelledQueued, 1)
  t.equal(sched.stats.bytesSaved, 4096)
})

t.test('abort in the kernel: a cancel goes out; ECANCELED settles it with stage kernel', async (t) => {
  const { sched, backend, device } = fakeScheduler()
  const r = request(device)
  sched.enqueue(r.req)
  await tick()
  const id = backend.prepped[0].id
  const submits = backend.submits
  sched.abort(r.req, 'stop')
  await Promise.resolve()
  t.same(backend.cancels, [id], 'cancel sent for the chunk')
  t.equal(backend.submits, submits + 1, 'and submitted in the same turn')
  backend.cancelAnswer(id, 0)
  backend.complete(id, ECANCELED)
  const { error } = await r.done
  t.match(error, { name: 'AbortError', stage: 'kernel', bytesTransferred: 0 })
  t.equal(sched.stats.cancelsSent, 1)
  t.equal(sched.stats.cancelOk, 1)
  t.equal(sched.stats.cancelledKernel, 1)
})

t.test("kernelCancel 'never' and backends that cannot cancel send no cancel", async (t) => {
  for (const opts of [{ kernelCancel: 'never' as const }, { canCancel: false }]) {
    const { sched, backend, device } = fakeScheduler(opts)
    const r = request(device)
    sched.enqueue(r.req)
    await tick()
    sched.abort(r.req, 'stop')
    await Promise.resolve()
    t.same(backend.cancels, [], JSON.stringify(opts))
    backend.completeOldest()
    t.match((await r.done).error, { stage: 'issued', bytesTransferred: 4096 })
  }
})

t.test('an indivisible request that went out runs to the end', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 16 })
  const r = request(device, { kind: 1, syscall: 'write', length: 3 * 4096, chunkSize: 4096, maxChunksInFlight: 1, indivisible: true })
  sched.enqueue(r.req)
  await tick()
  t.equal(r.req.committed, true, 'committed once a chunk went out')
  sched.abort(r.req, 'stop')
  t.same(backend.cancels, [], 'no cancel')
  for (let i = 0; i < 3; i++) {
    backend.completeOldest()
    await tick()
  }
  const { error } = await r.done
  t.match(error, { stage: 'issued', bytesTransferred: 3 * 4096 })
  t.equal(backend.prepped.length, 3, 'every chunk was issued')
  t.equal(sched.stats.bytesWritten, 3 * 4096)
})

t.test('zero-length operations (fsync) are one chunk', async (t) => {
  const { sched, backend, device } = fakeScheduler()
  const r = request(device, { kind: OP_FSYNC, syscall: 'fsync', length: 0, views: [] })
  sched.enqueue(r.req)
  await tick()
  t.equal(backend.prepped.length, 1)
  backend.completeOldest(0)
  t.equal((await r.done).bytes, 0)
})

t.test('drained() waits for queued and in-flight work', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 1 })
  t.equal(await sched.drained(), undefined, 'resolves at once when idle')
  const rs = [request(device), request(device)]
  for (const r of rs) sched.enqueue(r.req)
  let drained = false
  void sched.drained().then(() => (drained = true))
  await tick()
  backend.completeOldest()
  await tick()
  t.equal(drained, false, 'one still in flight')
  backend.completeOldest()
  await tick()
  t.equal(drained, true)
})

t.test('with several devices, the last slot is kept for an idle device', async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 2 })
  const other = new DeviceQueue('8:16', 2, null, createPolicy('priority'))
  sched.addDevice(other)
  const slow = [request(device), request(device), request(device)]
  for (const r of slow) sched.enqueue(r.req)
  await tick()
  t.equal(device.inKernel, 1, 'the busy device gets one slot of two')
  const fast = request(other)
  sched.enqueue(fast.req)
  await tick()
  t.equal(other.inKernel, 1, 'the idle device gets the kept slot')
  while (backend.inKernel.size > 0) {
    backend.completeOldest()
    await tick()
  }
  await Promise.all([...slow, fast].map((r) => r.done))
  t.pass('all settled')
})
