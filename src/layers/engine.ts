import { Effect, Layer } from "effect"
import * as os from "node:os"
import { Engine, makeEngine, type Executor } from "../actors/engine.ts"
import { PagedKvCache, type KvDtype } from "../engine/kv-cache.ts"
import { loadModelDir, type KernelBackend, type LoadedModel } from "../engine/model-dir.ts"
import { WorkerExecutor } from "../engine/worker-executor.ts"
import type { LoadQuantization, WeightDtype } from "../engine/matrix.ts"
import { matrixStorages } from "../engine/weights.ts"
import { defaultSchedulerConfig } from "../engine/scheduler.ts"
import type { PoolingType } from "../engine/pooling.ts"
import type { SpeculativeConfig } from "../engine/spec-decode/config.ts"
import { DraftModelProposer } from "../engine/spec-decode/draft-proposer.ts"
import { KvBlockIo } from "../engine/kv-transfer/kv-block-io.ts"
import { kvConnectorFor, type KvTransferOptions } from "./kv-connector.ts"

/** Engine options, named after vLLM's flags where one exists. */
export interface EngineOptions {
  readonly modelDir: string
  /** Name clients use in `model` (--served-model-name); defaults to the directory's name. */
  readonly servedModelName?: string
  readonly maxModelLen?: number
  readonly blockSize?: number
  readonly maxNumSeqs?: number
  readonly maxNumBatchedTokens?: number
  /** Bytes of KV cache (K and V, all layers) to allocate (--kv-cache-memory). */
  readonly kvCacheMemoryBytes?: number
  readonly kvCacheDtype?: KvDtype
  readonly enablePrefixCaching?: boolean
  readonly longPrefillTokenThreshold?: number
  readonly schedulingPolicy?: "fcfs" | "priority"
  /** A paused (slow-reader) sequence is preempted after this long, freeing its blocks. */
  readonly stallLimitMs?: number
  readonly outputBufferSize?: number
  readonly maxWaitingRequests?: number
  /** Precision of the weight matrices (--dtype); undefined = the checkpoint's own. */
  readonly dtype?: WeightDtype
  /** Quantize the matrices of a safetensors checkpoint at load (--quantization); undefined = none. */
  readonly quantization?: LoadQuantization
  /** Kernel backend: WASM SIMD (default) or the plain TypeScript reference kernels. */
  readonly kernels?: KernelBackend
  /** Where forward passes run: a worker thread (default; keeps the event loop free) or this thread. */
  readonly executor?: "worker" | "in-process"
  /** Threads each step is split over (--tensor-parallel-size); default: defaultTensorParallelSize. */
  readonly tensorParallelSize?: number
  /** How /v1/embeddings pools the final hidden states (--pooling): last token (default) or mean. */
  readonly pooling?: PoolingType
  /** Speculative decoding (--speculative-config and friends); off when absent. */
  readonly speculative?: SpeculativeConfig | null
  /** Disaggregated prefill/decode (--kv-role and its transport); a colocated engine when absent. */
  readonly kvTransfer?: KvTransferOptions | null
}

/** The name clients use for a model directory when --served-model-name is not given: the directory's name. */
/** The model's name by default: its directory's name, or a GGUF file's name without ".gguf". */
export const servedModelNameOf = (modelDir: string): string =>
  (modelDir.split("/").filter(Boolean).pop() ?? "model").replace(/\.gguf$/i, "") || "model"

export const DEFAULT_KV_CACHE_MEMORY = 256 * 2 ** 20

/** Parses sizes such as "512MiB", "2GB", "1g" or a plain byte count. */
export const parseByteSize = (s: string): number => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(s)
  if (m === null) throw new Error(`not a size: ${JSON.stringify(s)} (examples: 512MiB, 2GB, 1073741824)`)
  const unit = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"]
  return Math.floor(Number(m[1]) * unit)
}

/** In-process executor: the forward pass on the fiber's own thread (blocks the event loop while it runs). */
const inProcessExecutor = (loaded: LoadedModel, cache: PagedKvCache): Executor => ({
  execute: (batch) => Effect.try({ try: () => loaded.model.forward(batch, cache), catch: (e) => e })
})

/**
 * The default --tensor-parallel-size: one thread per core, up to 4; one thread for models under 1M
 * parameters (the tests' toy models: steps of microseconds, not measured to gain from a second thread).
 * The bundled 4M-parameter model decodes faster on two threads than on one since stop 30's kernels
 * (bench/spec-decode.ts --tensor-parallel-size 1 vs 2: one stream ~1.1-1.2x, 4-16 streams ~1.6-1.9x).
 * The same with a draft model: leaving it a core to draft ahead on (the default before) measured slower
 * on 2 cores than verifying on both and drafting between steps (bundled pair, K=3, one stream, alternating
 * bench/spec-decode.ts runs of stop 32: 1,020-1,120 tok/s against 1,190-1,690).
 */
export const defaultTensorParallelSize = (parameters: number): number =>
  parameters < 1e6 ? 1 : Math.max(1, Math.min(4, os.availableParallelism()))

/**
 * Whether the draft model drafts ahead while the target verifies: only when the executor's threads leave a
 * core to the event-loop thread. Drafting ahead beside as many threads as cores slows the target's step
 * more than it saves (bundled pair, K=3, 2 threads on 2 cores: median 1,150 tok/s with it, 1,751 without).
 */
const draftsAhead = (tensorParallelSize: number, executor: EngineOptions["executor"]): boolean =>
  executor !== "in-process" && tensorParallelSize < os.availableParallelism()

/** Worker-thread executor, closed with the scope that made it. */
const workerExecutor = (loaded: LoadedModel, cache: PagedKvCache, tensorParallelSize: number) =>
  Effect.map(
    Effect.acquireRelease(Effect.try({ try: () => new WorkerExecutor(loaded.model, cache, { tensorParallelSize }), catch: (e) => e as Error }), (w) => Effect.promise(() => w.close())),
    (w): Executor => ({ execute: (batch) => Effect.tryPromise({ try: () => w.execute(batch), catch: (e) => e }), offThread: true })
  )

/**
 * The draft model of --speculative-model / method draft_model, with its own KV cache of as many blocks as the target's (a draft's blocks are much smaller), run on the
 * engine's thread between steps.
 */
const draftProposerFor = (speculative: SpeculativeConfig | null, target: LoadedModel, numBlocks: number, blockSize: number, ahead: boolean): DraftModelProposer | null => {
  if (speculative === null || speculative.method !== "draft_model") return null
  // Its own kernels instance (and arena): the target's belongs to its executor.
  const draft = loadModelDir(speculative.model!)
  if (draft.config.vocabSize !== target.config.vocabSize) {
    throw new Error(`--speculative-model ${speculative.model}: its vocabulary has ${draft.config.vocabSize} tokens, the model's ${target.config.vocabSize}; a draft model must share the tokenizer`)
  }
  const cache = new PagedKvCache(draft.config, { numBlocks, blockSize, dtype: "f32" }, draft.model.kernels.arena?.pools)
  return new DraftModelProposer({ vocabSize: draft.config.vocabSize, numBlocks, blockSize, execute: (batch) => draft.model.forward(batch, cache) }, { ahead })
}

/** Sizes the KV pool and wires the engine actor around an already loaded model. */
export const makeEngineFromModel = (loaded: LoadedModel, options: Omit<EngineOptions, "modelDir">) => {
  const c = loaded.config
  const blockSize = options.blockSize ?? 16
  const dtype = options.kvCacheDtype ?? "f32"
  const maxModelLen = options.maxModelLen ?? c.maxPositionEmbeddings
  if (maxModelLen > c.maxPositionEmbeddings) {
    throw new Error(`--max-model-len ${maxModelLen} exceeds the model's max_position_embeddings ${c.maxPositionEmbeddings}`)
  }
  const bytes = options.kvCacheMemoryBytes ?? DEFAULT_KV_CACHE_MEMORY
  const numBlocks = Math.floor(bytes / PagedKvCache.bytesPerBlock(c, blockSize, dtype)) + 1 // + the null block
  const needed = Math.ceil(maxModelLen / blockSize) + 1
  if (numBlocks < needed) {
    throw new Error(
      `--kv-cache-memory ${bytes} bytes holds ${numBlocks - 1} blocks of ${blockSize} tokens; one sequence of max_model_len ${maxModelLen} needs ${needed - 1}. Raise --kv-cache-memory or lower --max-model-len.`
    )
  }
  const cache = new PagedKvCache(c, { numBlocks, blockSize, dtype }, loaded.model.kernels.arena?.pools)
  if (options.executor === "in-process" && (options.tensorParallelSize ?? 1) > 1) {
    throw new Error(`--tensor-parallel-size ${options.tensorParallelSize} needs the worker executor (the in-process one runs on the event-loop thread)`)
  }
  // The reference kernels run on one thread; only the SIMD ones split (asking for more with them is an error).
  const tensorParallelSize = options.tensorParallelSize ?? (loaded.model.kernels.arena === undefined ? 1 : defaultTensorParallelSize(loaded.parameters))
  const executor = options.executor === "in-process" ? Effect.succeed(inProcessExecutor(loaded, cache)) : workerExecutor(loaded, cache, tensorParallelSize)
  const draftProposer = draftProposerFor(options.speculative ?? null, loaded, numBlocks, blockSize, draftsAhead(tensorParallelSize, options.executor))
  const name = options.servedModelName ?? servedModelNameOf(loaded.dir)
  const enablePrefixCaching = options.enablePrefixCaching ?? true
  const kvTransfer = options.kvTransfer ?? null
  return Effect.flatMap(Effect.all([executor, kvConnectorFor(kvTransfer)]), ([executor, kvConnector]) => makeEngine({
    info: { modelName: name, config: c, tokenizer: loaded.tokenizer, generation: loaded.generation, maxModelLen, blockSize, numBlocks, enablePrefixCaching, pooling: options.pooling ?? "last" },
    core: {
      vocabSize: c.vocabSize,
      hiddenSize: c.hiddenSize,
      blockSize,
      numBlocks,
      enablePrefixCaching,
      eosTokenIds: loaded.generation.eosTokenIds,
      tokenizer: loaded.tokenizer,
      speculative: options.speculative ?? null,
      draftProposer,
      kvBlocks: kvTransfer === null ? null : new KvBlockIo(cache),
      scheduler: {
        ...defaultSchedulerConfig(maxModelLen),
        ...(options.maxNumSeqs !== undefined && { maxNumSeqs: options.maxNumSeqs }),
        ...(options.maxNumBatchedTokens !== undefined && { maxNumBatchedTokens: options.maxNumBatchedTokens }),
        ...(options.longPrefillTokenThreshold !== undefined && { longPrefillTokenThreshold: options.longPrefillTokenThreshold }),
        ...(options.schedulingPolicy !== undefined && { policy: options.schedulingPolicy }),
        ...(options.stallLimitMs !== undefined && { stallLimitMs: options.stallLimitMs })
      }
    },
    executor,
    kvConnector,
    outputBufferSize: options.outputBufferSize,
    maxWaitingRequests: options.maxWaitingRequests
  }))
}

/** Where weights went beyond the main memory (a model over 4 GiB, or a KV cache that takes its room). */
const weightMemoriesNote = (loaded: LoadedModel): string => {
  const spilled = loaded.model.kernels.arena?.weightArenas ?? []
  if (spilled.length === 0) return ""
  const gib = spilled.reduce((n, a) => n + a.bytesUsed, 0) / 2 ** 30
  return ` (${gib.toFixed(2)} GiB of them in ${spilled.length} weight memor${spilled.length === 1 ? "y" : "ies"} beside the main one)`
}

/** The Engine service for a Hugging Face model directory; the model loads when the layer is built. */
export const engineLayer = (options: EngineOptions): Layer.Layer<Engine, Error> =>
  Layer.effect(
    Engine,
    Effect.gen(function*() {
      const loaded = yield* Effect.try({ try: () => loadModelDir(options.modelDir, { backend: options.kernels, dtype: options.dtype, quantization: options.quantization, kvCacheBytes: options.kvCacheMemoryBytes ?? DEFAULT_KV_CACHE_MEMORY }), catch: (e) => e as Error })
      const tensorParallelSize = options.tensorParallelSize ?? (loaded.model.kernels.arena === undefined || options.executor === "in-process" ? 1 : defaultTensorParallelSize(loaded.parameters))
      const w = loaded.model.weights
      yield* Effect.logInfo(
        `loaded ${options.modelDir}: ${loaded.config.architecture}, ${(loaded.parameters / 1e6).toFixed(2)}M parameters in ${loaded.loadMs.toFixed(0)} ms; ` +
          `weights: ${matrixStorages(w)}${weightMemoriesNote(loaded)}; tensor parallel: ${tensorParallelSize} thread${tensorParallelSize === 1 ? "" : "s"}` +
          (options.speculative?.method !== "draft_model" ? "" : draftsAhead(tensorParallelSize, options.executor) ? "; the draft model drafts ahead on the free core" : "; the draft model drafts between steps (no core free to draft ahead on)")
      )
      return yield* Effect.try({ try: () => makeEngineFromModel(loaded, { ...options, tensorParallelSize }), catch: (e) => e as Error }).pipe(Effect.flatten)
    })
  )
