// lib/linked-set.ts: add returns a node, remove is idempotent, values is a
// snapshot (newest first), clear detaches every node.
import t from 'tap'
import { LinkedSet } from '../../lib/linked-set'

t.test('add, remove from the head, the middle and the tail', async (t) => {
  const s = new LinkedSet<string>()
  const a = s.add('a')
  const b = s.add('b')
  const c = s.add('c')
  t.same(s.values(), ['c', 'b', 'a'])
  t.equal(s.size, 3)
  s.remove(b)
  t.same(s.values(), ['c', 'a'], 'middle')
  s.remove(c)
  t.same(s.values(), ['a'], 'head')
  s.remove(a)
  t.same(s.values(), [], 'last')
  t.equal(s.size, 0)
})

t.test('removing a node twice, or after clear(), changes nothing', async (t) => {
  const s = new LinkedSet<number>()
  const one = s.add(1)
  s.add(2)
  s.remove(one)
  s.remove(one)
  t.equal(s.size, 1)
  t.same(s.values(), [2])
  const three = s.add(3)
  s.clear()
  t.equal(s.size, 0)
  s.remove(three)
  t.equal(s.size, 0, 'a cleared node is not a member')
  t.same(s.values(), [])
  s.add(4)
  t.same(s.values(), [4], 'usable after clear()')
})

t.test('values() is a snapshot: removing while iterating it is safe', async (t) => {
  const s = new LinkedSet<number>()
  const nodes = [1, 2, 3, 4].map((v) => s.add(v))
  const seen: number[] = []
  for (const v of s.values()) {
    seen.push(v)
    for (const n of nodes) s.remove(n)
  }
  t.same(seen, [4, 3, 2, 1])
  t.equal(s.size, 0)
})
