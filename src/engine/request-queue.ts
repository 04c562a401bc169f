import type { SchedulerRequest } from "./request.ts"

/**
 * The waiting queue of one scheduling policy, as vLLM's request_queue.py: the scheduler asks it for the
 * next request to admit and where a preempted one goes back, and the policy also picks which running
 * request is preempted when blocks run out.
 */
export interface RequestQueue extends Iterable<SchedulerRequest> {
  readonly length: number
  /** A new request (or a parked one that comes back). */
  add(req: SchedulerRequest): void
  /** A request preempted for recompute: it goes before the others of its rank. */
  addPreempted(req: SchedulerRequest): void
  /** The next request to admit, without taking it. */
  peek(): SchedulerRequest | undefined
  /** Takes the request `peek` returned. */
  pop(): SchedulerRequest | undefined
  /** Removes a request wherever it is (an abort). */
  remove(req: SchedulerRequest): void
  /** The running request to preempt when blocks run out (`running` in admission order, never empty). */
  victim(running: ReadonlyArray<SchedulerRequest>): SchedulerRequest
}

/** First come, first served: arrival order; the preempted go to the head; the newest admitted is preempted first. */
export class FcfsRequestQueue implements RequestQueue {
  private readonly queue: Array<SchedulerRequest> = []

  get length(): number {
    return this.queue.length
  }

  add(req: SchedulerRequest): void {
    // Arrival order, also for a parked request that comes back after newer ones arrived.
    let i = this.queue.length
    while (i > 0 && req.arrival < this.queue[i - 1].arrival) i--
    this.queue.splice(i, 0, req)
  }

  addPreempted(req: SchedulerRequest): void {
    this.queue.unshift(req)
  }

  peek(): SchedulerRequest | undefined {
    return this.queue[0]
  }

  pop(): SchedulerRequest | undefined {
    return this.queue.shift()
  }

  remove(req: SchedulerRequest): void {
    const i = this.queue.indexOf(req)
    if (i >= 0) this.queue.splice(i, 1)
  }

  victim(running: ReadonlyArray<SchedulerRequest>): SchedulerRequest {
    return running[running.length - 1]
  }

  [Symbol.iterator](): Iterator<SchedulerRequest> {
    return this.queue[Symbol.iterator]()
  }
}

/** Lower priority value first (as vLLM), then earlier arrival. */
const ranksBefore = (a: SchedulerRequest, b: SchedulerRequest): boolean => (a.priority !== b.priority ? a.priority < b.priority : a.arrival < b.arrival)

/** By `priority` (lower first), then arrival; a preempted request keeps its rank; the last by rank is preempted first. */
export class PriorityRequestQueue implements RequestQueue {
  private readonly queue: Array<SchedulerRequest> = []

  get length(): number {
    return this.queue.length
  }

  add(req: SchedulerRequest): void {
    let i = this.queue.length
    while (i > 0 && ranksBefore(req, this.queue[i - 1])) i--
    this.queue.splice(i, 0, req)
  }

  addPreempted(req: SchedulerRequest): void {
    this.add(req)
  }

  peek(): SchedulerRequest | undefined {
    return this.queue[0]
  }

  pop(): SchedulerRequest | undefined {
    return this.queue.shift()
  }

  remove(req: SchedulerRequest): void {
    const i = this.queue.indexOf(req)
    if (i >= 0) this.queue.splice(i, 1)
  }

  victim(running: ReadonlyArray<SchedulerRequest>): SchedulerRequest {
    let v = running[running.length - 1]
    for (const r of running) if (ranksBefore(v, r)) v = r
    return v
  }

  [Symbol.iterator](): Iterator<SchedulerRequest> {
    return this.queue[Symbol.iterator]()
  }
}

export const requestQueueFor = (policy: "fcfs" | "priority"): RequestQueue => (policy === "priority" ? new PriorityRequestQueue() : new FcfsRequestQueue())
