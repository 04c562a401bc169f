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

/** A queue kept sorted by its policy's rank; the policies differ in rank, in where the preempted go and in the victim. */
abstract class RankedRequestQueue implements RequestQueue {
  protected readonly queue: Array<SchedulerRequest> = []

  /** Whether `a` is admitted before `b`. */
  protected abstract ranksBefore(a: SchedulerRequest, b: SchedulerRequest): boolean
  abstract addPreempted(req: SchedulerRequest): void
  abstract victim(running: ReadonlyArray<SchedulerRequest>): SchedulerRequest

  get length(): number {
    return this.queue.length
  }

  add(req: SchedulerRequest): void {
    let i = this.queue.length
    while (i > 0 && this.ranksBefore(req, this.queue[i - 1])) i--
    this.queue.splice(i, 0, req)
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

  [Symbol.iterator](): Iterator<SchedulerRequest> {
    return this.queue[Symbol.iterator]()
  }
}

/**
 * First come, first served: arrival order (also for a parked request that comes back after newer ones
 * arrived); the preempted go to the head; the newest admitted is preempted first.
 */
export class FcfsRequestQueue extends RankedRequestQueue {
  protected ranksBefore(a: SchedulerRequest, b: SchedulerRequest): boolean {
    return a.arrival < b.arrival
  }

  addPreempted(req: SchedulerRequest): void {
    this.queue.unshift(req)
  }

  victim(running: ReadonlyArray<SchedulerRequest>): SchedulerRequest {
    return running[running.length - 1]
  }
}

/** Lower priority value first (as vLLM), then earlier arrival. */
const priorityRanksBefore = (a: SchedulerRequest, b: SchedulerRequest): boolean => (a.priority !== b.priority ? a.priority < b.priority : a.arrival < b.arrival)

/** By `priority` (lower first), then arrival; a preempted request keeps its rank; the last by rank is preempted first. */
export class PriorityRequestQueue extends RankedRequestQueue {
  protected ranksBefore(a: SchedulerRequest, b: SchedulerRequest): boolean {
    return priorityRanksBefore(a, b)
  }

  addPreempted(req: SchedulerRequest): void {
    this.add(req)
  }

  victim(running: ReadonlyArray<SchedulerRequest>): SchedulerRequest {
    let v = running[running.length - 1]
    for (const r of running) if (priorityRanksBefore(v, r)) v = r
    return v
  }
}

export const requestQueueFor = (policy: "fcfs" | "priority"): RequestQueue => (policy === "priority" ? new PriorityRequestQueue() : new FcfsRequestQueue())
