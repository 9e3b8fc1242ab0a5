// lib/sched/policy.ts and device-queue.ts: the default ordering (strict
// priority, FIFO within a priority), lazy removal, and the policy list.
import t from 'tap'
import { DeviceQueue } from '../../lib/sched/device-queue'
import { createPolicy, POLICY_NAMES, PriorityPolicy } from '../../lib/sched/policy'
import { fakeScheduler, request } from '../helpers/fake-backend'

t.test('priority policy: higher first, FIFO among equals', async (t) => {
  const { device } = fakeScheduler()
  const p = new PriorityPolicy()
  const rs = [1, 3, 1, 2, 3, -1].map((priority) => request(device, { priority }).req)
  for (const r of rs) p.push(r)
  const out = []
  for (let r = p.take(); r; r = p.take()) out.push(rs.indexOf(r))
  t.same(out, [1, 4, 3, 0, 2, 5])
})

t.test('priority policy: FIFO holds across a long queue (head compaction)', async (t) => {
  const { device } = fakeScheduler()
  const p = new PriorityPolicy()
  const rs = Array.from({ length: 5000 }, () => request(device).req)
  for (const r of rs.slice(0, 3000)) p.push(r)
  const out = []
  for (let i = 0; i < 2500; i++) out.push(p.take())
  for (const r of rs.slice(3000)) p.push(r)
  for (let r = p.take(); r; r = p.take()) out.push(r)
  t.equal(out.length, 5000)
  t.ok(out.every((r, i) => r === rs[i]), 'every request in arrival order')
})

t.test('DeviceQueue owns the state and count; dropped entries are skipped', async (t) => {
  const { device } = fakeScheduler()
  const q = new DeviceQueue('8:0', 4, null, createPolicy('priority'))
  const [a, b, c] = [request(device).req, request(device).req, request(device).req]
  q.push(a)
  q.push(b)
  q.push(b)
  t.equal(q.waiting, 2, 'pushing a queued request again does nothing')
  t.equal(b.state, 'queued')
  q.drop(a)
  t.equal(a.state, 'idle')
  t.equal(q.waiting, 1)
  q.push(c)
  t.equal(q.take(), b, 'the dropped request is skipped')
  t.equal(b.state, 'idle')
  t.equal(q.take(), c)
  t.equal(q.take(), null)
  t.equal(q.waiting, 0)
})

t.test('a stopped request is not handed out', async (t) => {
  const { device } = fakeScheduler()
  const q = new DeviceQueue('8:0', 4, null, createPolicy('priority'))
  const a = request(device).req
  q.push(a)
  a.state = 'stopped' // as the scheduler does after an error (it drops first)
  t.equal(q.take(), null)
})

t.test('the policy names', async (t) => {
  t.same(POLICY_NAMES, ['priority', 'deadline'])
  for (const name of POLICY_NAMES) t.type(createPolicy(name).take, 'function', name)
})
