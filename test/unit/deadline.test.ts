// lib/sched/deadline.ts: earliest deadline first, requests without a
// deadline last, ties by priority then arrival; and through the scheduler.
import t from 'tap'
import { DeadlinePolicy } from '../../lib/sched/deadline'
import { fakeScheduler, request, tick } from '../helpers/fake-backend'

t.test('earliest deadline first, then priority, then arrival; no deadline last', async (t) => {
  const { device } = fakeScheduler()
  const p = new DeadlinePolicy()
  const specs = [
    { deadline: Infinity, priority: 9 },
    { deadline: 50, priority: 0 },
    { deadline: 10, priority: 0 },
    { deadline: 50, priority: 1 },
    { deadline: Infinity, priority: 0 },
    { deadline: 10, priority: 0 },
    { deadline: 30, priority: -5 },
  ]
  const rs = specs.map((s) => request(device, s).req)
  for (const r of rs) p.push(r)
  const out = []
  for (let r = p.take(); r; r = p.take()) out.push(rs.indexOf(r))
  t.same(out, [2, 5, 6, 3, 1, 0, 4])
})

t.test('the heap stays ordered under interleaved push and take', async (t) => {
  const { device } = fakeScheduler()
  const p = new DeadlinePolicy()
  let s = 12345
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) % 1000
  let last = -Infinity
  let taken = 0
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < 5; i++) p.push(request(device, { deadline: last + 1 + rand() }).req)
    for (let i = 0; i < 3; i++) {
      const r = p.take()!
      if (r.deadline < last) t.fail(`deadline ${r.deadline} after ${last}`)
      last = r.deadline
      taken++
    }
  }
  for (let r = p.take(); r; r = p.take()) {
    if (r.deadline < last) t.fail('out of order at the end')
    last = r.deadline
    taken++
  }
  t.equal(taken, 1000)
})

t.test("through the scheduler: policy 'deadline' issues by deadline, ignoring priority order", async (t) => {
  const { sched, backend, device } = fakeScheduler({ capacity: 1, policy: 'deadline' })
  const order: number[] = []
  const rs = [
    { deadline: 300, priority: 9 },
    { deadline: 100, priority: 0 },
    { deadline: 200, priority: 5 },
  ].map((s, i) => {
    const r = request(device, s)
    void r.done.then(() => order.push(i))
    return r
  })
  for (const r of rs) sched.enqueue(r.req)
  await tick()
  while (backend.inKernel.size > 0) {
    backend.completeOldest()
    await tick()
  }
  await Promise.all(rs.map((r) => r.done))
  t.same(order, [1, 2, 0])
})
