/**
 * Worker-thread entry of the model executor: runs forward passes off the event-loop thread. Weights and
 * KV pools arrive as SharedArrayBuffer-backed arrays (shared, not copied); each step message carries only
 * the step plan, and the reply carries the logits (transferred, not copied).
 */
import { parentPort, workerData } from "node:worker_threads"
import type { ModelConfig } from "./config.ts"
import { referenceKernels, type KvStorage } from "./kernels.ts"
import { PagedKvCache } from "./kv-cache.ts"
import { CausalLM, type ForwardBatch } from "./model.ts"
import { WasmArena } from "./wasm/arena.ts"
import { startParallelGroup } from "./wasm/parallel-group.ts"
import { simdKernels } from "./wasm/simd-kernels.ts"
import { mapWeights, type ModelWeights } from "./weights.ts"

export interface ExecutorWorkerInit {
  readonly config: ModelConfig
  readonly weights: ModelWeights
  /** The SIMD backend's shared memory when the weights live in it; null for the reference kernels. */
  readonly arenaMemory: WebAssembly.Memory | null
  /** The arena's weight memories (a model over 4 GiB), and which memory holds each weight matrix (mapWeights order). */
  readonly weightMemories: ReadonlyArray<WebAssembly.Memory>
  readonly weightPlaces: ReadonlyArray<number>
  readonly cache: { readonly k: ReadonlyArray<KvStorage>; readonly v: ReadonlyArray<KvStorage>; readonly numBlocks: number; readonly blockSize: number; readonly dtype: "f32" | "f16"; readonly inArena: boolean }
  /** Threads each step is split over (this one and tensorParallelSize - 1 helpers); needs the arena. */
  readonly tensorParallelSize: number
}

export type ExecutorRequest = { readonly id: number; readonly batch: ForwardBatch }
/**
 * The step's output: an array moved to the caller, or where it lies in the shared arena (the model's
 * logits workspace, read by the caller before it posts the next step, which overwrites it).
 */
export type ExecutorReply =
  | { readonly id: number; readonly logits: Float32Array }
  | { readonly id: number; readonly shared: { readonly byteOffset: number; readonly length: number } }
  | { readonly id: number; readonly error: string }

const init = workerData as ExecutorWorkerInit
const arena = init.arenaMemory === null ? null : WasmArena.attach(init.arenaMemory, init.weightMemories)

const start = async () => {
  if (arena === null) return new CausalLM(init.config, init.weights, referenceKernels)
  const group = init.tensorParallelSize > 1 ? await startParallelGroup(arena, init.tensorParallelSize) : null
  // Same memories, this thread's views of them: the kernels recognise the weights as arena tensors.
  let next = 0
  return new CausalLM(init.config, mapWeights(init.weights, (t) => arena.rebaseMatrix(t, init.weightPlaces[next++])), simdKernels(arena, group))
}
const model = start()
const pools = (p: ReadonlyArray<KvStorage>) => (arena !== null && init.cache.inArena ? p.map((t) => arena.rebase(t)) : p)
// Re-wrap the shared pools in a PagedKvCache without allocating new ones.
const cache = Object.assign(Object.create(PagedKvCache.prototype) as PagedKvCache, {
  k: pools(init.cache.k),
  v: pools(init.cache.v),
  numBlocks: init.cache.numBlocks,
  blockSize: init.cache.blockSize,
  dtype: init.cache.dtype,
  slotWidth: init.config.numKvHeads * init.config.headDim
})

const step = (m: CausalLM, msg: ExecutorRequest) => {
  try {
    // With the arena, logits stay where the model wrote them (shared memory; hidden states come in a fresh
    // array, moved); without, a copy is moved.
    const logits = arena === null ? m.forward(msg.batch, cache) : m.forwardInWorkspace(msg.batch, cache)
    if (arena !== null && arena.owns(logits)) parentPort!.postMessage({ id: msg.id, shared: { byteOffset: logits.byteOffset, length: logits.length } } satisfies ExecutorReply)
    else parentPort!.postMessage({ id: msg.id, logits } satisfies ExecutorReply, [logits.buffer as ArrayBuffer])
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message } satisfies ExecutorReply)
  }
}

// Steps queue behind the start (helper threads starting) in arrival order.
parentPort!.on("message", (msg: ExecutorRequest) => {
  model.then(
    (m) => step(m, msg),
    (e: Error) => parentPort!.postMessage({ id: msg.id, error: `executor failed to start: ${e.message}` } satisfies ExecutorReply)
  )
})
