// A set for hot paths where members come and go once per request: the
// unsettled writes of a handle, the requests watching one AbortSignal.
//
// Not a Set. A Set (or Map) with one add and one delete per request keeps
// rehashing into new tables, and V8 links each table it abandons to its
// successor, entries and all (for live iterators). Once a full GC has moved
// one of them to old space, that chain keeps every later table, and
// everything reachable from their entries, alive through the scavenges
// until the next full GC: an await loop at depth 32 with one long-lived
// AbortSignal promoted 20% of what it allocated and spent 10% of its time
// in 4-8 ms scavenges. A doubly linked list never reallocates, and a removed
// node points nowhere. (The scheduler's table of in-flight chunks has the
// same reason: sched/chunk-table.ts.)

/** A class, not an object literal: a node lives as long as its request (see newList() in sched/request.ts). */
export class LinkedNode<T> {
  readonly value: T
  prev: LinkedNode<T> | null = null
  next: LinkedNode<T> | null

  constructor(value: T, next: LinkedNode<T> | null) {
    this.value = value
    this.next = next
  }
}

export class LinkedSet<T> {
  private head: LinkedNode<T> | null = null
  /** Members now. */
  size = 0

  /** Add `value`; the node removes it again. */
  add(value: T): LinkedNode<T> {
    const node = new LinkedNode(value, this.head)
    if (this.head) this.head.prev = node
    this.head = node
    this.size++
    return node
  }

  /** Remove a node add() returned; removing it twice does nothing. */
  remove(node: LinkedNode<T>): void {
    if (node.prev) node.prev.next = node.next
    else if (this.head === node) this.head = node.next
    else return // not a member (any more)
    if (node.next) node.next.prev = node.prev
    node.prev = node.next = null
    this.size--
  }

  /** The members, newest first (a snapshot). */
  values(): T[] {
    const out: T[] = []
    for (let n = this.head; n; n = n.next) out.push(n.value)
    return out
  }

  clear(): void {
    for (let n = this.head; n; ) {
      const next = n.next
      n.prev = n.next = null
      n = next
    }
    this.head = null
    this.size = 0
  }
}
