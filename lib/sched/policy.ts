// The ordering seam: which waiting request of a device goes into the kernel
// next. A policy only orders; DeviceQueue (device-queue.ts) owns the request
// states and counts, and skips entries that are no longer waiting, so a
// policy may forget lazily (drop() can be a no-op) and may hand back a
// request it was given twice.
import type { Request } from './request'
import { DeadlinePolicy } from './deadline'

export interface Policy {
  /** A request starts (or resumes) waiting for a kernel slot. */
  push(req: Request): void
  /** The next request to issue from, removed; null when none is left. May return requests no longer waiting. */
  take(): Request | null
  /** A waiting request left early (aborted, settled). */
  drop(req: Request): void
}

interface Level {
  priority: number
  items: Request[]
  head: number
}

/** The default: strict priority (higher first), FIFO within a priority. */
export class PriorityPolicy implements Policy {
  private levels: Level[] = []
  private byPriority = new Map<number, Level>()

  push(req: Request): void {
    let level = this.byPriority.get(req.priority)
    if (!level) {
      level = { priority: req.priority, items: [], head: 0 }
      this.byPriority.set(req.priority, level)
      this.levels.push(level)
      this.levels.sort((a, b) => b.priority - a.priority)
    }
    level.items.push(req)
  }

  take(): Request | null {
    for (const level of this.levels) {
      if (level.head < level.items.length) {
        const req = level.items[level.head]
        level.items[level.head++] = undefined as unknown as Request
        if (level.head > 1024 && level.head * 2 > level.items.length) {
          level.items = level.items.slice(level.head)
          level.head = 0
        }
        return req
      }
    }
    return null
  }

  drop(): void {
    // Lazy: take() hands the entry back and DeviceQueue skips it.
  }
}

/** Every policy, by the name `IoContextOptions.policy` accepts. A new policy is one file plus one line here. */
export const POLICIES = {
  priority: PriorityPolicy,
  deadline: DeadlinePolicy,
} satisfies Record<string, new () => Policy>

/** A policy's name: `'priority'` (default) or `'deadline'`. */
export type PolicyName = keyof typeof POLICIES

export const POLICY_NAMES = Object.keys(POLICIES) as PolicyName[]

export function createPolicy(name: PolicyName): Policy {
  return new POLICIES[name]()
}
