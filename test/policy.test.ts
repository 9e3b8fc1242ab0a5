// IoContext's ordering policy on real files, on every backend: with one
// request in the kernel at a time, `policy: 'deadline'` issues the waiting
// reads earliest deadline first, and the default policy by priority; the
// `policy` and `deadline` options are validated like every other option.
import t from 'tap'
import { IoContext, allocAligned, open } from '../lib/index'
import { forEachBackend, randomFile, scratch } from './helpers/backends'

const BLOCK = 4096

async function settleOrder(ctx: IoContext, dir: string, opts: Array<{ deadline?: number; priority?: number }>): Promise<number[]> {
  const { path: p } = randomFile(dir, 'p.bin', opts.length * BLOCK)
  const f = await open(p, 'r', { context: ctx })
  try {
    const order: number[] = []
    const bufs = opts.map(() => allocAligned(BLOCK))
    await Promise.all(opts.map((o, i) => f.read(bufs[i], { position: i * BLOCK, ...o }).then(() => order.push(i))))
    return order
  } finally {
    await f.close()
  }
}

forEachBackend(
  t,
  "policy 'deadline': earliest deadline first",
  async (t, ctx) => {
    const order = await settleOrder(ctx, scratch(t), [{ deadline: 500 }, { deadline: 100, priority: -1 }, {}, { deadline: 300, priority: 9 }, { deadline: 0 }])
    t.same(order, [4, 1, 3, 0, 2], 'by deadline; no deadline last; priority ignored')
  },
  { policy: 'deadline', maxInFlight: 1 },
)

forEachBackend(
  t,
  "policy 'priority' (default): deadlines do not reorder",
  async (t, ctx) => {
    const order = await settleOrder(ctx, scratch(t), [{ deadline: 500 }, { deadline: 100, priority: -1 }, {}, { deadline: 300, priority: 9 }, { deadline: 0 }])
    t.same(order, [3, 0, 2, 4, 1], 'by priority, then call order')
  },
  { maxInFlight: 1 },
)

t.test('policy and deadline are validated', async (t) => {
  t.throws(() => new IoContext({ policy: 'edf' as never }), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.policy.*must be one of 'priority', 'deadline'/ })
  const dir = scratch(t)
  const { path: p } = randomFile(dir, 'v.bin', BLOCK)
  const f = await open(p, 'r')
  t.teardown(() => f.close())
  const buf = allocAligned(BLOCK)
  for (const bad of [-1, Infinity, NaN]) await t.rejects(f.read(buf, { position: 0, deadline: bad }), { code: 'ERR_OUT_OF_RANGE' }, `deadline ${bad}`)
  await t.rejects(f.read(buf, { position: 0, deadline: '5' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.equal((await f.read(buf, { position: 0, deadline: 0 })).bytesRead, BLOCK, 'deadline 0 is fine')
})
