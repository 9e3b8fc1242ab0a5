// Earliest deadline first: the waiting request whose deadline (`{ deadline:
// msFromNow }`, made absolute when the request is created) comes first goes
// out first. Requests without a deadline come after every request with one;
// ties go to the higher priority, then to the older request. A missed
// deadline is not an error: the request just goes out as soon as it can.
import type { Policy } from './policy'
import type { Request } from './request'

interface Entry {
  req: Request
  seq: number
}

function before(a: Entry, b: Entry): boolean {
  if (a.req.deadline !== b.req.deadline) return a.req.deadline < b.req.deadline
  if (a.req.priority !== b.req.priority) return a.req.priority > b.req.priority
  return a.seq < b.seq
}

/** A binary min-heap on (deadline, -priority, arrival). */
export class DeadlinePolicy implements Policy {
  private heap: Entry[] = []
  private seq = 0

  push(req: Request): void {
    const h = this.heap
    h.push({ req, seq: this.seq++ })
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  take(): Request | null {
    const h = this.heap
    if (h.length === 0) return null
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l], h[m])) m = l
        if (r < h.length && before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top.req
  }

  drop(): void {
    // Lazy, like the default policy: DeviceQueue skips entries that left.
  }
}
