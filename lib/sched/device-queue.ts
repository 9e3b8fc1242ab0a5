// One device's waiting requests and in-kernel depth. The policy orders the
// waiting requests; this class owns their state ('queued' or not) and the
// count, so a policy never has to find an entry to remove it.
import type { DepthController } from './depth'
import type { Policy } from './policy'
import type { Request } from './request'

export class DeviceQueue {
  /** `"major:minor"`. */
  readonly key: string
  /** Requests listed and not yet taken, stopped or settled. */
  waiting = 0
  inKernel = 0
  /** Fixed limit (used when there is no controller). */
  readonly fixedLimit: number
  readonly controller: DepthController | null
  private readonly policy: Policy

  constructor(key: string, limit: number, controller: DepthController | null, policy: Policy) {
    this.key = key
    this.fixedLimit = limit
    this.controller = controller
    this.policy = policy
  }

  /** Requests in the kernel at once for this device now. */
  get limit(): number {
    return this.controller ? this.controller.depth : this.fixedLimit
  }

  push(req: Request): void {
    if (req.state === 'queued') return
    req.state = 'queued'
    this.waiting++
    this.policy.push(req)
  }

  /** The next request allowed to issue a chunk, no longer listed. */
  take(): Request | null {
    for (;;) {
      const req = this.policy.take()
      if (!req) return null
      if (req.state !== 'queued') continue // left the queue earlier (lazy removal)
      req.state = 'idle'
      this.waiting--
      if (!req.hasMore()) continue
      return req
    }
  }

  /** Unlist a request that will issue nothing more (stopped or settled). */
  drop(req: Request): void {
    if (req.state !== 'queued') return
    req.state = 'idle'
    this.waiting--
    this.policy.drop(req)
  }
}
