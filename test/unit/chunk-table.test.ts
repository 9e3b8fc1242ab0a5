// lib/sched/chunk-table.ts: in-flight chunks by id, in fixed slots, with an
// overflow for an id whose slot is still held by a chunk issued 4096 ids
// earlier.
import t from 'tap'
import { ChunkTable } from '../../lib/sched/chunk-table'
import type { Chunk } from '../../lib/sched/request'
import { fakeScheduler, request } from '../helpers/fake-backend'

function chunkWithId(id: number): Chunk {
  const { device } = fakeScheduler()
  const { req } = request(device)
  return { id, req, start: 0, len: 4096, res: undefined, cancelSent: false, issuedAt: 0 }
}

t.test('set, get and take by id; size counts members', async (t) => {
  const table = new ChunkTable()
  const a = chunkWithId(1)
  const b = chunkWithId(2)
  table.set(a)
  table.set(b)
  t.equal(table.size, 2)
  t.equal(table.get(1), a)
  t.equal(table.get(2), b)
  t.equal(table.get(3), undefined, 'an id never set')
  t.equal(table.take(1), a)
  t.equal(table.take(1), undefined, 'taken twice: the second finds nothing')
  t.equal(table.get(1), undefined)
  t.equal(table.size, 1)
  t.equal(table.take(2), b)
  t.equal(table.size, 0)
})

t.test('an id whose slot is held goes to the overflow, and both are found', async (t) => {
  const table = new ChunkTable()
  const stuck = chunkWithId(7)
  const later = chunkWithId(7 + 4096) // same slot
  const muchLater = chunkWithId(7 + 2 * 4096)
  table.set(stuck)
  table.set(later)
  table.set(muchLater)
  t.equal(table.size, 3)
  t.equal(table.get(7), stuck)
  t.equal(table.get(7 + 4096), later)
  t.equal(table.get(7 + 2 * 4096), muchLater)
  t.equal(table.take(7 + 4096), later, 'from the overflow')
  t.equal(table.get(7), stuck, 'the slot keeps its chunk')
  t.equal(table.take(7), stuck)
  t.equal(table.get(7 + 2 * 4096), muchLater, 'still found in the overflow after the slot freed')
  t.equal(table.take(7 + 2 * 4096), muchLater)
  t.equal(table.size, 0)
})

t.test('sequential ids through a full window, as the scheduler issues them', async (t) => {
  const table = new ChunkTable()
  const live: Chunk[] = []
  let id = 1
  // 300 in flight at a time, 20,000 issued and completed in order, with one
  // chunk stuck from the start to the end.
  const stuck = chunkWithId(id++)
  table.set(stuck)
  for (let i = 0; i < 20000; i++) {
    const c = chunkWithId(id++)
    table.set(c)
    live.push(c)
    if (live.length > 300) {
      const done = live.shift()!
      if (table.take(done.id) !== done) t.fail(`chunk ${done.id} not found`)
    }
  }
  t.equal(table.size, live.length + 1)
  for (const c of live) t.equal(table.take(c.id), c)
  t.equal(table.take(stuck.id), stuck, 'the stuck chunk is still found')
  t.equal(table.size, 0)
})
