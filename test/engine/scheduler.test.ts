import { describe, expect, it } from "vitest"
import { KvCacheManager } from "../../src/engine/kv-cache-manager.ts"
import { FcfsRequestQueue, PriorityRequestQueue } from "../../src/engine/request-queue.ts"
import { SchedulerRequest } from "../../src/engine/request.ts"
import { Scheduler, type SchedulerConfig, type SchedulerOutput } from "../../src/engine/scheduler.ts"

// Scheduler and prefix-cache cases in the spirit of vLLM's tests/v1/core: tiny pools (11 blocks x 16
// tokens), a fake model that appends one token whenever a request has caught up.
const BS = 16
let arrival = 0

const makeScheduler = (over: Partial<SchedulerConfig> = {}, numBlocks = 11) =>
  new Scheduler(
    { maxNumBatchedTokens: 2048, maxNumSeqs: 128, maxModelLen: 4096, longPrefillTokenThreshold: 0, policy: "fcfs", stallLimitMs: 1000, ...over },
    new KvCacheManager(numBlocks, BS)
  )

const request = (id: string, prompt: number | Array<number>, opts: { maxTokens?: number; priority?: number; salt?: string; needsPromptLogits?: boolean } = {}) =>
  new SchedulerRequest({
    id,
    promptTokenIds: typeof prompt === "number" ? Array.from({ length: prompt }, (_, i) => (i * 7 + id.charCodeAt(0) * 31 + id.length) % 500) : prompt,
    maxTokens: opts.maxTokens ?? 16,
    priority: opts.priority,
    arrival: arrival++,
    cacheSalt: opts.salt,
    needsPromptLogits: opts.needsPromptLogits
  })

const live = (s: Scheduler) => [...s.running, ...s.waiting, ...s.parked]

/** Applies a step's result as the model runner would: computed tokens advance, caught-up requests get a token. */
const complete = (s: Scheduler, out: SchedulerOutput, finished: Array<string> = []) => {
  for (const ch of out.chunks) {
    const r = ch.request
    r.numComputedTokens += ch.numNewTokens
    if (r.numComputedTokens === r.numTokens) {
      r.outputTokenIds.push(1000 + r.outputTokenIds.length)
      if (r.outputTokenIds.length >= r.maxTokens) {
        s.remove(r)
        finished.push(r.id)
      }
    }
  }
  s.kv.checkInvariants(live(s))
}

const step = (s: Scheduler, finished: Array<string> = []) => {
  const out = s.schedule(0)
  complete(s, out, finished)
  return out
}

const scheduled = (out: SchedulerOutput) => Object.fromEntries(out.chunks.map((c) => [c.request.id, c.numNewTokens]))

describe("scheduler", () => {
  it("schedule: admits every waiting request that fits, running first, within the token budget", () => {
    const s = makeScheduler()
    for (const id of ["a", "b", "c"]) s.add(request(id, 20))
    const out = step(s)
    expect(scheduled(out)).toEqual({ a: 20, b: 20, c: 20 })
    expect(out.numBatchedTokens).toBe(60)
    expect(s.running.map((r) => r.id)).toEqual(["a", "b", "c"])
    expect(scheduled(step(s))).toEqual({ a: 1, b: 1, c: 1 })
  })

  it("partial prefill: a prompt larger than the budget is chunked and decodes only once caught up", () => {
    const s = makeScheduler({ maxNumBatchedTokens: 64 }, 30)
    s.add(request("long", 150))
    s.add(request("short", 10))
    expect(scheduled(step(s))).toEqual({ long: 64 })
    expect(scheduled(step(s))).toEqual({ long: 64 })
    const third = step(s)
    expect(scheduled(third)).toEqual({ long: 22, short: 10 })
    expect(s.running[0].outputTokenIds.length).toBe(1)
    expect(scheduled(step(s))).toEqual({ long: 1, short: 1 })
  })

  it("long prefill threshold caps one request's chunk so others are not starved", () => {
    const s = makeScheduler({ longPrefillTokenThreshold: 32 }, 30)
    s.add(request("long", 100))
    s.add(request("short", 8))
    expect(scheduled(step(s))).toEqual({ long: 32, short: 8 })
  })

  it("max_num_seqs caps the running set", () => {
    const s = makeScheduler({ maxNumSeqs: 2 })
    for (const id of ["a", "b", "c"]) s.add(request(id, 5))
    expect(Object.keys(scheduled(step(s)))).toEqual(["a", "b"])
    expect([...s.waiting].map((r) => r.id)).toEqual(["c"])
  })

  it("preemption during execution: when blocks run out the latest request is preempted and recomputes later", () => {
    // 10 usable blocks: two requests of 4.5 blocks each grow into a 10th and 11th block.
    const s = makeScheduler({}, 11)
    // b wants prompt logprobs, so it never reads the prefix cache: it recomputes all of its tokens.
    const a = request("a", 72, { maxTokens: 40 }), b = request("b", 72, { maxTokens: 40, needsPromptLogits: true })
    s.add(a)
    s.add(b)
    const preempted: Array<string> = []
    for (let i = 0; i < 20 && preempted.length === 0; i++) preempted.push(...step(s).preempted.map((r) => r.id))
    expect(preempted).toEqual(["b"])
    expect(b.status).toBe("preempted")
    expect(b.numComputedTokens).toBe(0)
    expect(b.blocks).toEqual([])
    expect(s.waiting.peek()).toBe(b)
    expect(s.numPreemptions).toBe(1)
    // b keeps its output tokens and recomputes prompt + output once a's blocks are free.
    const outputsBefore = b.outputTokenIds.length
    const finished: Array<string> = []
    while (!finished.includes("a")) step(s, finished)
    const resumed = step(s)
    expect(scheduled(resumed)).toEqual({ b: 72 + outputsBefore })
    expect(b.outputTokenIds.length).toBe(outputsBefore + 1)
  })

  it("no admission in a step that preempted", () => {
    // 5 usable blocks: a (40 tokens, 3 blocks) and b (30 tokens, 2 blocks) fill the pool; c waits.
    const s = makeScheduler({ maxNumSeqs: 2 }, 6)
    const a = request("a", 40, { maxTokens: 100 }), b = request("b", 30, { maxTokens: 100 })
    s.add(a)
    s.add(b)
    s.add(request("c", 3))
    let out = step(s)
    while (out.preempted.length === 0) out = step(s) // a grows into a 4th block: b is preempted
    expect(out.preempted.map((r) => r.id)).toEqual(["b"])
    expect(Object.keys(scheduled(out))).toEqual(["a"]) // blocks were freed, yet nobody was admitted
    expect([...s.waiting].map((r) => r.id)).toEqual(["b", "c"])
  })

  it("priority: waiting requests are admitted by priority, the victim is the lowest priority", () => {
    const s = makeScheduler({ policy: "priority", maxNumSeqs: 1 }, 30)
    s.add(request("low", 5, { priority: 5 }))
    s.add(request("high", 5, { priority: 0 }))
    s.add(request("mid", 5, { priority: 2 }))
    expect([...s.waiting].map((r) => r.id)).toEqual(["high", "mid", "low"])
    expect(Object.keys(scheduled(step(s)))).toEqual(["high"])

    const t = makeScheduler({ policy: "priority" }, 9)
    const lo = request("lo", 60, { priority: 9, maxTokens: 50 }), hi = request("hi", 60, { priority: 1, maxTokens: 50 })
    t.add(lo)
    t.add(hi)
    const pre: Array<string> = []
    for (let i = 0; i < 30 && pre.length === 0; i++) pre.push(...step(t).preempted.map((r) => r.id))
    expect(pre).toEqual(["lo"])
  })

  it("a request preempted after it was scheduled in the same step gives its tokens back to the budget", () => {
    // 6 usable blocks. Running, in this order: x (priority 9, 24 prompt tokens to go), y (priority 1,
    // decoding: its next token needs a third block), z (priority 1, 30 prompt tokens to go).
    const s = makeScheduler({ policy: "priority", maxNumBatchedTokens: 40 }, 7)
    const x = request("x", 40, { priority: 9 }), y = request("y", 32, { priority: 1 }), z = request("z", 46, { priority: 1 })
    for (const [r, computed] of [[x, 16], [y, 32], [z, 16]] as const) {
      expect(s.kv.allocateSlots(r, computed)).toBe(true)
      r.numComputedTokens = computed
      r.status = "running"
      s.running.push(r)
    }
    y.outputTokenIds.push(1)
    // x takes 24 tokens and the last 2 free blocks; y then needs a block, and x, the lowest priority, is
    // preempted: its 24 tokens go back, so z gets all of its 30 (without them, 40 - 24 - 1 = 15).
    const out = s.schedule(0)
    expect(out.preempted.map((r) => r.id)).toEqual(["x"])
    expect(scheduled(out)).toEqual({ y: 1, z: 30 })
    expect(out.numBatchedTokens).toBe(31)
  })

  it("the policies' queues: fcfs admits by arrival and puts the preempted first; priority orders by (priority, arrival) and preempts the last", () => {
    const fcfs = new FcfsRequestQueue(), priority = new PriorityRequestQueue()
    const [a, b, c] = [request("a", 4, { priority: 5 }), request("b", 4, { priority: 1 }), request("c", 4, { priority: 5 })]
    for (const q of [fcfs, priority]) for (const r of [a, b, c]) q.add(r)
    expect([...fcfs].map((r) => r.id)).toEqual(["a", "b", "c"])
    expect([...priority].map((r) => r.id)).toEqual(["b", "a", "c"])
    fcfs.remove(b)
    fcfs.addPreempted(b)
    expect(fcfs.peek()).toBe(b)
    expect(fcfs.victim([a, b, c])).toBe(c) // the newest admitted
    expect(priority.victim([c, b, a])).toBe(c) // the largest (priority, arrival)
    priority.remove(a)
    priority.addPreempted(a)
    expect([...priority].map((r) => r.id)).toEqual(["b", "a", "c"]) // keeps its rank
    expect(priority.pop()).toBe(b)
    expect(priority.length).toBe(2)
  })

  it("abort: a removed request leaves running and its blocks return to the pool at once", () => {
    const s = makeScheduler()
    const a = request("a", 40)
    s.add(a)
    step(s)
    expect(s.kv.pool.numFree).toBe(7)
    s.remove(a)
    s.remove(a) // idempotent
    expect(s.running).toEqual([])
    expect(s.kv.pool.numFree).toBe(10)
    s.kv.checkInvariants(live(s))
  })

  it("paused requests are skipped, and preempted after the stall limit, then resume", () => {
    const s = makeScheduler({ stallLimitMs: 100 })
    const a = request("a", 20, { maxTokens: 50 }), b = request("b", 20, { maxTokens: 50 })
    s.add(a)
    s.add(b)
    complete(s, s.schedule(0))
    a.paused = true
    a.pausedSince = 10
    const o1 = s.schedule(50)
    complete(s, o1)
    expect(scheduled(o1)).toEqual({ b: 1 })
    expect(a.blocks.length).toBeGreaterThan(0) // kept while paused
    const o2 = s.schedule(110)
    complete(s, o2)
    expect(o2.preempted.map((r) => r.id)).toEqual(["a"])
    expect(a.blocks).toEqual([])
    expect(s.parked.has(a)).toBe(true)
    s.unpause(a)
    // a recomputes its 21 tokens, less the full block still in the prefix cache.
    expect(scheduled(s.schedule(120))).toEqual({ b: 1, a: 5 })
  })
})

describe("prefix caching", () => {
  it("correct reuse: a second request sharing full blocks computes only the uncached tail", () => {
    const s = makeScheduler({}, 30)
    const shared = Array.from({ length: 48 }, (_, i) => i + 1)
    s.add(request("a", [...shared, 7, 8, 9]))
    step(s)
    const b = request("b", [...shared, 100, 101])
    s.add(b)
    const out = step(s)
    expect(scheduled(out).b).toBe(2)
    expect(b.numCachedPromptTokens).toBe(48)
    expect(b.blocks.slice(0, 3).map((x) => x.refCount)).toEqual([2, 2, 2])
  })

  it("the last prompt token is always recomputed, even when the whole prompt is cached", () => {
    const s = makeScheduler({}, 30)
    const prompt = Array.from({ length: 32 }, (_, i) => i + 1)
    s.add(request("a", prompt))
    step(s)
    const b = request("b", prompt)
    s.add(b)
    expect(scheduled(step(s)).b).toBe(16)
    expect(b.numCachedPromptTokens).toBe(16)
  })

  it("salting: the same prompt under another cache salt does not hit", () => {
    const s = makeScheduler({}, 30)
    const prompt = Array.from({ length: 40 }, (_, i) => i + 1)
    s.add(request("a", prompt, { salt: "tenant-1" }))
    step(s)
    const b = request("b", prompt, { salt: "tenant-2" }), c = request("c", prompt, { salt: "tenant-1" })
    s.add(b)
    s.add(c)
    const out = step(s)
    expect(scheduled(out)).toMatchObject({ b: 40, c: 8 })
  })

  it("eviction order: a finished request's blocks are evicted tail first, least recently freed first", () => {
    const s = makeScheduler({}, 11)
    const a = request("a", Array.from({ length: 48 }, (_, i) => i + 1), { maxTokens: 2 })
    s.add(a)
    step(s)
    const aBlocks = [...a.blocks].map((b) => b.id)
    step(s) // a finishes and frees its 4 blocks
    expect(a.status).toBe("finished")
    const queue = s.kv.pool.freeQueue.ids()
    // Tail-first release: a's last block comes before its first in the free queue.
    expect(queue.indexOf(aBlocks[2])).toBeLessThan(queue.indexOf(aBlocks[0]))
    expect(s.kv.pool.cachedBlockCount).toBe(3)
  })

  it("computed blocks are not evicted while held, and freed cached blocks are evicted only when needed", () => {
    const s = makeScheduler({}, 11)
    const prefix = Array.from({ length: 32 }, (_, i) => i + 1)
    const a = request("a", [...prefix, 5], { maxTokens: 100 })
    s.add(a)
    step(s)
    // b needs 7 fresh blocks; a holds 3 cached ones that must survive.
    const b = request("b", Array.from({ length: 100 }, (_, i) => 900 + i), { maxTokens: 1 })
    s.add(b)
    step(s)
    expect(s.kv.pool.cachedBlockCount).toBeGreaterThanOrEqual(2)
    const c = request("c", [...prefix, 6])
    s.add(c)
    expect(scheduled(step(s)).c).toBe(1)
  })
})
