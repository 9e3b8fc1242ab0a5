// lib/sched/request.ts: the one state field, the derived commitment, and
// the byte accounting that read/write and AbortError report.
import t from 'tap'
import { ECANCELED } from '../../lib/sys-constants'
import { abortErrorFor, stageOf } from '../../lib/sched/cancel'
import type { Chunk } from '../../lib/sched/request'
import { fakeScheduler, request } from '../helpers/fake-backend'

function chunk(req: ReturnType<typeof request>['req'], start: number, len: number, res: number | undefined): Chunk {
  const c: Chunk = { id: 0, req, start, len, res, cancelSent: false, issuedAt: 0 }
  req.chunks.push(c)
  req.planned = Math.max(req.planned, start + len)
  return c
}

t.test('a new request is idle, has more to issue, and is not committed', async (t) => {
  const { device } = fakeScheduler()
  const { req } = request(device, { indivisible: true })
  t.equal(req.state, 'idle')
  t.equal(req.hasMore(), true)
  t.equal(req.committed, false)
  t.equal(req.aborted, false)
  t.equal(req.abortable(), true)
  chunk(req, 0, 4096, undefined)
  t.equal(req.committed, true, 'committed once a chunk exists')
  t.equal(req.abortable(), false)
})

t.test('a group commits every member', async (t) => {
  const { device } = fakeScheduler()
  const group = { committed: false }
  const { req } = request(device, { group })
  t.equal(req.abortable(), true)
  group.committed = true
  t.equal(req.abortable(), false)
})

t.test('stopped and settled requests have nothing more', async (t) => {
  const { device } = fakeScheduler()
  const { req } = request(device)
  req.state = 'stopped'
  t.equal(req.hasMore(), false)
  req.state = 'settled'
  t.equal(req.hasMore(), false)
  const sync = request(device, { length: 0, views: [] }).req
  t.equal(sync.hasMore(), true, 'a zero-length request has its one chunk to issue')
  chunk(sync, 0, 0, undefined)
  t.equal(sync.hasMore(), false)
})

t.test('byte accounting across out-of-order, short and cancelled chunks', async (t) => {
  const { device } = fakeScheduler()
  const { req } = request(device, { length: 4 * 4096, position: 8192 })
  chunk(req, 8192, 4096, 4096)
  chunk(req, 0, 4096, 4096)
  chunk(req, 4096, 4096, 1000)
  chunk(req, 12288, 4096, ECANCELED)
  t.equal(req.contiguousBytes(), 4096 + 1000, 'from the start, up to the first short chunk')
  t.equal(req.transferredBytes(), 4096 + 4096 + 1000)
  t.same(req.ranges(), [[8192, 8192 + 4096 + 1000], [16384, 20480]], 'file ranges, merged')
})

t.test('slice() maps a byte range onto vectored views', async (t) => {
  const { device } = fakeScheduler()
  const views = [new Uint8Array(100), new Uint8Array(50), new Uint8Array(200)]
  const { req } = request(device, { views, vectored: true, length: 350 })
  const s = req.slice(80, 100)
  t.same(s.map((v) => [v.byteOffset, v.byteLength]), [[80, 20], [0, 50], [0, 30]])
})

t.test('the abort stage follows from the chunks', async (t) => {
  const { device } = fakeScheduler()
  const queued = request(device).req
  t.equal(stageOf(queued), 'queued')
  const kernel = request(device).req
  chunk(kernel, 0, 4096, ECANCELED)
  t.equal(stageOf(kernel), 'kernel')
  const issued = request(device).req
  chunk(issued, 0, 4096, 4096)
  issued.abort = { reason: 'why' }
  const err = abortErrorFor(issued)
  t.match(err, { name: 'AbortError', code: 'ABORT_ERR', stage: 'issued', bytesTransferred: 4096, cause: 'why' })
  t.same(err.ranges, [[0, 4096]])
})
