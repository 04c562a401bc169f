import { Worker } from "node:worker_threads"
import type { ExecutorReply, ExecutorWorkerInit } from "./executor-worker.ts"
import type { PagedKvCache } from "./kv-cache.ts"
import type { CausalLM, ForwardBatch } from "./model.ts"
import { matrixData } from "./matrix.ts"
import { mapWeights } from "./weights.ts"

/**
 * Runs the model's forward passes in a worker thread so the event loop stays free for HTTP, health
 * checks and metrics while a step computes. One step in flight at a time (the engine loop awaits it).
 */
export class WorkerExecutor {
  private readonly worker: Worker
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (l: Float32Array) => void; reject: (e: Error) => void }>()
  private failure: Error | null = null
  /** The arena the model's workspace lives in (logits come back as views of it). */
  private readonly arenaMemory: WebAssembly.Memory | null

  constructor(model: CausalLM, cache: PagedKvCache, options: { readonly tensorParallelSize?: number } = {}) {
    const tensorParallelSize = options.tensorParallelSize ?? 1
    if (tensorParallelSize > 1 && model.kernels.arena === undefined) {
      throw new Error(`--tensor-parallel-size ${tensorParallelSize} needs the WASM SIMD kernels (the ${model.kernels.name} kernels run on one thread)`)
    }
    const arena = model.kernels.arena
    this.arenaMemory = arena?.memory ?? null
    const weightPlaces: Array<number> = []
    mapWeights(model.weights, (t) => (weightPlaces.push(arena?.placeOf(matrixData(t)) ?? -1), t))
    const init: ExecutorWorkerInit = {
      config: model.config,
      weights: model.weights,
      arenaMemory: arena?.memory ?? null,
      weightMemories: arena?.weightMemories ?? [],
      weightPlaces,
      cache: {
        k: cache.k, v: cache.v, numBlocks: cache.numBlocks, blockSize: cache.blockSize, dtype: cache.dtype,
        inArena: model.kernels.arena?.owns(cache.k[0]) ?? false
      },
      tensorParallelSize
    }
    // Run from source (type stripping) or from the built dist/ (plain JS).
    const entry = import.meta.url.endsWith(".ts") ? "./executor-worker.ts" : "./executor-worker.js"
    this.worker = new Worker(new URL(entry, import.meta.url), { workerData: init })
    this.worker.on("message", (msg: ExecutorReply) => {
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      if (this.pending.size === 0) this.worker.unref()
      if ("error" in msg) p.reject(new Error(msg.error))
      else if ("shared" in msg) p.resolve(new Float32Array(this.arenaMemory!.buffer, msg.shared.byteOffset, msg.shared.length))
      else p.resolve(msg.logits)
    })
    const failAll = (e: Error) => {
      this.failure = e
      for (const p of this.pending.values()) p.reject(e)
      this.pending.clear()
    }
    this.worker.on("error", failAll)
    this.worker.on("exit", (code) => failAll(new Error(`executor worker exited with code ${code}`)))
    // An idle worker must not keep the process alive; one computing a step must (see execute).
    this.worker.unref()
  }

  /**
   * The step's logits (then hidden states). They may be a view of the shared workspace that the next
   * step overwrites: read them before calling execute again (the engine loop does: one step in flight).
   */
  execute(batch: ForwardBatch): Promise<Float32Array> {
    if (this.failure !== null) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      if (this.pending.size === 1) this.worker.ref()
      this.worker.postMessage({ id, batch })
    })
  }

  async close(): Promise<void> {
    await this.worker.terminate()
  }
}
