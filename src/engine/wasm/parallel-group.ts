/**
 * Tensor parallelism over worker threads on one shared WebAssembly.Memory (--tensor-parallel-size N).
 * The thread running the forward pass (rank 0, the executor worker) and N - 1 helper threads share a
 * control block in the arena. For each parallel operation rank 0 writes a descriptor, bumps the
 * generation counter and wakes the helpers (Atomics.notify); every rank computes its share (matmuls by
 * output columns, attention by (token, KV head) units of about equal cost) and rank 0 waits (Atomics.wait) until all have reported. Waits
 * spin first, because the gaps between operations of one step are microseconds (helpers spin for up to
 * HELPER_SPIN_MS).
 *
 * Exactness: each output element (matmul column, attention (token, head)) is computed by exactly one rank with
 * the same code and the same accumulation order as on one thread, so results are bit for bit the same
 * whatever N is (test/engine/tensor-parallel.test.ts).
 */
import { Worker } from "node:worker_threads"
import type { MatrixStorage } from "../matrix.ts"
import { SimdAttention, type AttentionJob } from "./simd-attention.ts"
import type { WasmArena } from "./arena.ts"
import { elementwiseExports, instantiateKernels, type ElementwiseExports, type MatmulExport } from "./module.ts"
import { matmulsByPlace, runMatmulCall, type MatmulCall } from "./weight-staging.ts"


const GEN = 0, DONE = 1, READY = 2, OP = 3, COUNT = 4, ERROR = 5
const MATMUL_BASE = 8, MATMUL_INTS = 9, MAX_MATMULS = 3
const ATTN_BASE = MATMUL_BASE + MAX_MATMULS * MATMUL_INTS
export const CONTROL_INTS = ATTN_BASE + 16
const OP_MATMULS = 1, OP_ATTENTION = 2, OP_RMS_NORM = 3, OP_SILU_MUL = 4, OP_ADD = 5
const SPIN = 20000
/**
 * How long an idle helper spins for the next operation before it sleeps: 1 ms, so that it stays awake
 * across the event-loop thread's work between two steps (sampling, delivery, a draft model's passes).
 * Woken from Atomics.wait, a helper's first operation of the next step came late and ran cold: on a
 * 2-vCPU VM, 20,000 spins (~0.15 ms) gave the bundled model 1,863 tok/s decoding one stream (median of
 * 6 runs), 1 ms 2,158; speculating with the draft model (K=3, 2 threads) 1,255 -> 1,760. An idle
 * engine's helpers spin 1 ms and then sleep.
 */
const HELPER_SPIN_MS = 1
const HELPER_TIMEOUT_MS = 60_000


/** [start, end) of `n` items for `rank` of `size`, boundaries on multiples of `align` (except the end). */
export const shareOf = (n: number, rank: number, size: number, align: number): readonly [number, number] => {
  const at = (i: number) => (i >= size ? n : Math.min(n, Math.floor((n * i) / size / align) * align))
  return [at(rank), at(rank + 1)]
}

/** What every rank runs: its share of the operation described in the control block. */
export class ParallelWork {
  private readonly f32: Float32Array
  private readonly ctl: Int32Array
  private readonly matmul: (place: number) => Record<MatrixStorage, MatmulExport>
  private readonly attention: SimdAttention
  private readonly elementwise: ElementwiseExports
  readonly rank: number
  readonly size: number

  constructor(ctl: Int32Array, matmul: (place: number) => Record<MatrixStorage, MatmulExport>, attention: SimdAttention, elementwise: ElementwiseExports, rank: number, size: number) {
    this.ctl = ctl
    this.elementwise = elementwise
    this.f32 = new Float32Array(ctl.buffer, ctl.byteOffset, ctl.length)
    this.matmul = matmul
    this.attention = attention
    this.rank = rank
    this.size = size
  }

  runShare(): void {
    const c = this.ctl
    if (c[OP] === OP_MATMULS) {
      for (let m = 0; m < c[COUNT]; m++) {
        const b = MATMUL_BASE + m * MATMUL_INTS
        const call: MatmulCall = { out: c[b], x: c[b + 1], w: c[b + 2], rows: c[b + 3], inDim: c[b + 4], outDim: c[b + 5], bias: c[b + 6], storage: c[b + 7], place: c[b + 8] }
        const [o0, o1] = shareOf(call.outDim, this.rank, this.size, 8)
        if (o0 < o1) runMatmulCall(this.matmul, call, o0, o1)
      }
    } else if (c[OP] === OP_ATTENTION) {
      const a = ATTN_BASE
      const job: AttentionJob = {
        out: c[a], q: c[a + 1], k: c[a + 2], v: c[a + 3], tokenSlots: c[a + 4], tokenKeys: c[a + 5], tokens: c[a + 6],
        numHeads: c[a + 7], numKvHeads: c[a + 8], headDim: c[a + 9], scale: this.f32[a + 10], f16: c[a + 11] === 1
      }
      const [u0, u1] = this.attention.share(job, this.rank, this.size)
      if (u0 < u1) this.attention.run(job, u0, u1)
    } else if (c[OP] === OP_RMS_NORM) {
      const a = ATTN_BASE
      const [r0, r1] = shareOf(c[a + 3], this.rank, this.size, 1)
      if (r0 < r1) this.elementwise.rms_norm(c[a], c[a + 1], c[a + 2], r0, r1, c[a + 4], this.f32[a + 5])
    } else if (c[OP] === OP_SILU_MUL || c[OP] === OP_ADD) {
      const a = ATTN_BASE
      const [i0, i1] = shareOf(c[a + 2], this.rank, this.size, 4)
      if (i0 < i1) (c[OP] === OP_ADD ? this.elementwise.add_in_place : this.elementwise.silu_mul)(c[a], c[a + 1], i0, i1)
    }
  }

  /** Helper ranks: wait for each new generation, run the share, report; forever (the thread is terminated). */
  serve(): never {
    const c = this.ctl
    let seen = Atomics.load(c, GEN)
    Atomics.add(c, READY, 1)
    Atomics.notify(c, READY)
    for (;;) {
      const until = performance.now() + HELPER_SPIN_MS
      for (let spins = 1; Atomics.load(c, GEN) === seen; spins++) if ((spins & 1023) === 0 && performance.now() > until) break
      if (Atomics.load(c, GEN) === seen) Atomics.wait(c, GEN, seen, 100)
      if (Atomics.load(c, GEN) === seen) continue
      seen = Atomics.load(c, GEN)
      try {
        this.runShare()
      } catch {
        Atomics.store(c, ERROR, this.rank)
      }
      Atomics.add(c, DONE, 1)
      Atomics.notify(c, DONE)
    }
  }
}

/** Rank 0's side: posts operations and computes its own share. */
export class ParallelGroup {
  private readonly ctl: Int32Array
  private readonly f32: Float32Array
  private readonly work: ParallelWork
  readonly helpers: Array<Worker> = []

  constructor(ctl: Int32Array, work: ParallelWork) {
    this.ctl = ctl
    this.f32 = new Float32Array(ctl.buffer, ctl.byteOffset, ctl.length)
    this.work = work
  }

  get size(): number {
    return this.work.size
  }

  async close(): Promise<void> {
    await Promise.all(this.helpers.map((h) => h.terminate()))
  }

  /** Resolves once every helper serves (without blocking this thread's event loop). */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (let r = Atomics.load(this.ctl, READY); r < this.size - 1; r = Atomics.load(this.ctl, READY)) {
      if (Date.now() > deadline) throw new Error(`tensor parallel helpers did not start (${r} of ${this.size - 1} ready)`)
      await Atomics.waitAsync(this.ctl, READY, r, 50).value
    }
  }

  /** Matmuls (at most MAX_MATMULS_PER_GROUP): each rank computes its columns of each. */
  matmuls(calls: ReadonlyArray<MatmulCall>): void {
    const c = this.ctl
    c[OP] = OP_MATMULS
    c[COUNT] = calls.length
    calls.forEach((m, i) => {
      const b = MATMUL_BASE + i * MATMUL_INTS
      c[b] = m.out
      c[b + 1] = m.x
      c[b + 2] = m.w
      c[b + 3] = m.rows
      c[b + 4] = m.inDim
      c[b + 5] = m.outDim
      c[b + 6] = m.bias
      c[b + 7] = m.storage
      c[b + 8] = m.place
    })
    this.dispatch()
  }

  attention(job: AttentionJob): void {
    const c = this.ctl, a = ATTN_BASE
    c[OP] = OP_ATTENTION
    c[a] = job.out
    c[a + 1] = job.q
    c[a + 2] = job.k
    c[a + 3] = job.v
    c[a + 4] = job.tokenSlots
    c[a + 5] = job.tokenKeys
    c[a + 6] = job.tokens
    c[a + 7] = job.numHeads
    c[a + 8] = job.numKvHeads
    c[a + 9] = job.headDim
    this.f32[a + 10] = job.scale
    c[a + 11] = job.f16 ? 1 : 0
    this.dispatch()
  }

  rmsNorm(out: Float32Array, x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): void {
    const c = this.ctl, a = ATTN_BASE
    c[OP] = OP_RMS_NORM
    c[a] = out.byteOffset
    c[a + 1] = x.byteOffset
    c[a + 2] = w.byteOffset
    c[a + 3] = rows
    c[a + 4] = dim
    this.f32[a + 5] = eps
    this.dispatch()
  }

  /** gate = silu(gate) * up (op "silu") or h += x (op "add") over n elements. */
  pointwise(op: "silu" | "add", a0: Float32Array, b0: Float32Array, n: number): void {
    const c = this.ctl, a = ATTN_BASE
    c[OP] = op === "add" ? OP_ADD : OP_SILU_MUL
    c[a] = a0.byteOffset
    c[a + 1] = b0.byteOffset
    c[a + 2] = n
    this.dispatch()
  }

  private dispatch(): void {
    const c = this.ctl, helpers = this.size - 1
    Atomics.store(c, DONE, 0)
    Atomics.store(c, ERROR, -1)
    Atomics.add(c, GEN, 1)
    Atomics.notify(c, GEN)
    this.work.runShare()
    let spins = 0, since = 0
    for (let d = Atomics.load(c, DONE); d < helpers; d = Atomics.load(c, DONE)) {
      if (spins++ < SPIN) continue
      if (since === 0) since = Date.now()
      // A helper that died (its thread gone) would leave this wait forever: fail the step instead.
      else if (Date.now() - since > HELPER_TIMEOUT_MS) throw new Error(`tensor parallel: ${helpers - d} helper thread(s) did not finish an operation within ${HELPER_TIMEOUT_MS / 1000} s`)
      Atomics.wait(c, DONE, d, 100)
    }
    const failed = Atomics.load(c, ERROR)
    if (failed >= 0) throw new Error(`tensor parallel rank ${failed} failed`)
  }
}

export const MAX_MATMULS_PER_GROUP = MAX_MATMULS

/** The control block's place in the arena and the group's size: what a helper thread starts from. */
export interface HelperInit {
  readonly memory: WebAssembly.Memory
  /** The arena's weight memories (a model over 4 GiB). */
  readonly weightMemories: ReadonlyArray<WebAssembly.Memory>
  readonly control: number
  readonly rank: number
  readonly size: number
}

/** This thread's share of the work (rank `rank` of `size`) on the arena's memory. */
export const parallelWork = (arena: WasmArena, control: number, rank: number, size: number): ParallelWork => {
  const instance = instantiateKernels(arena.memory)
  const ctl = new Int32Array(arena.memory.buffer, control, CONTROL_INTS)
  return new ParallelWork(ctl, matmulsByPlace(arena, instance), new SimdAttention(arena, instance), elementwiseExports(instance), rank, size)
}

/**
 * Starts `size - 1` helper threads on the arena and resolves with rank 0's group once all serve. The
 * helpers do not keep the process alive; they end with the thread that started them.
 */
export const startParallelGroup = async (arena: WasmArena, size: number): Promise<ParallelGroup> => {
  const ctl = arena.allocI32(CONTROL_INTS)
  const work = parallelWork(arena, ctl.byteOffset, 0, size)
  const group = new ParallelGroup(new Int32Array(arena.memory.buffer, ctl.byteOffset, CONTROL_INTS), work)
  // Run from source (type stripping) or from the built dist/ (plain JS).
  const entry = new URL(import.meta.url.endsWith(".ts") ? "./parallel-helper.ts" : "./parallel-helper.js", import.meta.url)
  const failures: Array<Error> = []
  for (let rank = 1; rank < size; rank++) {
    const helper = new Worker(entry, { workerData: { memory: arena.memory, weightMemories: arena.weightMemories, control: ctl.byteOffset, rank, size } satisfies HelperInit })
    helper.on("error", (e) => failures.push(e))
    group.helpers.push(helper)
  }
  // Referenced while starting (Atomics.waitAsync alone does not keep a process alive), then not.
  await group.ready(60_000)
  for (const h of group.helpers) h.unref()
  if (failures.length > 0) throw failures[0]
  return group
}
