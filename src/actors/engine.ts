import { Cause, Clock, Context, Data, Effect, Fiber, Option, Queue, Stream, Tracer } from "effect"
import type { ModelConfig } from "../engine/config.ts"
import { EngineCore, type AddRequestSpec, type EngineCoreOptions, type EngineCoreStats, type RequestOutput } from "../engine/engine-core.ts"
import type { ForwardBatch } from "../engine/model.ts"
import type { GenerationDefaults } from "../engine/model-dir.ts"
import type { PoolingType } from "../engine/pooling.ts"
import type { SamplingParams } from "../engine/sampling-params.ts"
import type { TextTokenizer } from "../engine/tokenizer.ts"
import { recordEnginePhases, type EnginePhases } from "./engine-phases.ts"
import { KvTransferError } from "../engine/kv-transfer/kv-transfer.ts"
import { kvSpecOf, kvRoleRefusal, type EngineKvConnector, type KvTransferRequest } from "./engine-kv-transfer.ts"

/** What `Engine.generate` is asked for: a tokenized prompt and sampling parameters. */
export interface GenerateRequest {
  readonly requestId?: string
  readonly promptTokenIds: ReadonlyArray<number>
  readonly params: SamplingParams
  readonly priority?: number
  readonly cacheSalt?: string | null
  /** An embedding: the prompt is prefilled and pooled (one delta with `embedding`), nothing is generated. */
  readonly pooling?: PoolingType
  /** false: no draft tokens for this request when the engine speculates (same tokens, plain decoding's speed). */
  readonly speculate?: boolean
  /** Disaggregated prefill/decode (kv_transfer_params): this server's part in the request. */
  readonly kvTransfer?: KvTransferRequest
}

/** One step's output for one of the request's `n` sequences. */
export interface EngineDelta extends Omit<RequestOutput, "kvTransfer"> {
  /** Which of the n sequences (choice index). */
  readonly index: number
  /** do_remote_decode: the prefill is done and its KV waits under this id for the decode server. */
  readonly kvTransferId?: string
}

export class EngineError extends Data.TaggedError("EngineError")<{
  readonly reason: "invalid_request" | "overloaded" | "internal"
  readonly message: string
}> {}

export interface EngineInfo {
  readonly modelName: string
  readonly config: ModelConfig
  readonly tokenizer: TextTokenizer | null
  readonly generation: GenerationDefaults
  readonly maxModelLen: number
  readonly blockSize: number
  readonly numBlocks: number
  readonly enablePrefixCaching: boolean
  /** Sequences (prompts × n) that may wait for admission; a request asking for more than this never fits. */
  readonly maxWaitingRequests: number
  /** The placeholder of a gateway-only server (--no-model, src/layers/no-engine.ts): no model is served. */
  readonly gatewayOnly?: boolean
  /** How /v1/embeddings pools the final hidden states (--pooling; default last). */
  readonly pooling?: PoolingType
}

/** The inference engine as a service: streams of deltas per request, with cancellation and backpressure. */
export class Engine extends Context.Service<Engine, {
  readonly info: EngineInfo
  /**
   * Streams the request's deltas. The stream is bounded: a reader that stops reading pauses its
   * sequences (and only them). Interrupting the reader aborts the request and frees its KV blocks.
   */
  readonly generate: (request: GenerateRequest) => Stream.Stream<EngineDelta, EngineError>
  readonly stats: Effect.Effect<EngineCoreStats>
  /** Checks the block manager's invariants (tests call it after every step of a load test). */
  readonly checkInvariants: Effect.Effect<void>
}>()("inferline/Engine") {}

/** Runs a step's forward pass. In process (`Effect.sync`) or in a worker thread (async). */
export interface Executor {
  readonly execute: (batch: ForwardBatch) => Effect.Effect<Float32Array, unknown>
  /**
   * The pass runs on another thread and `execute` suspends until it is done: the event loop's other
   * fibers (the readers of the step just delivered, HTTP) run meanwhile, so the engine loop need not
   * yield to them between steps (the next step starts while they write the last one's deltas).
   */
  readonly offThread?: boolean
}

/**
 * An off-thread step with `work` done on this thread while its pass runs: the step's fiber starts at once
 * (the pass is posted to the executor's thread before `work` begins) and is joined after. `work` is an
 * optimization (drafts ahead): should it throw, the step goes on, and the same draft model's next use,
 * outside this, reports the failure.
 */
const whileStepRuns = <A, E>(step: Effect.Effect<A, E>, work: () => void): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(step, { startImmediately: true })
    try {
      work()
    } catch {}
    return yield* Fiber.join(fiber)
  })

export interface EngineActorOptions {
  readonly info: Omit<EngineInfo, "maxWaitingRequests">
  readonly core: EngineCoreOptions
  readonly executor: Executor
  /** Deltas buffered per sequence before it is paused (the bounded stream). */
  readonly outputBufferSize?: number
  /** Requests allowed to wait for admission before new ones are refused as overloaded. */
  readonly maxWaitingRequests?: number
  /** Called after every step (tests use it to check invariants). */
  readonly onStep?: (core: EngineCore) => void
  /** Disaggregated prefill/decode (--kv-role): where exported KV goes and imported KV comes from. */
  readonly kvConnector?: EngineKvConnector | null
}

type DeltaQueue = Queue.Queue<EngineDelta, EngineError | Cause.Done>

interface Handle {
  readonly spec: AddRequestSpec
  readonly index: number
  readonly queue: DeltaQueue
  paused: boolean
  resumeSent: boolean
  /** Stamped by the actor as the sequence goes through the queue, prefill and decode. */
  readonly phases: EnginePhases
}

type Command =
  | { readonly _tag: "Add"; readonly handles: ReadonlyArray<Handle> }
  | { readonly _tag: "Abort"; readonly ids: ReadonlyArray<string> }
  | { readonly _tag: "Resume"; readonly id: string }

let requestCounter = 0
const newRequestId = () => `req-${Date.now().toString(36)}-${(requestCounter++).toString(36)}`

/**
 * Builds the engine actor: one fiber owns the `EngineCore` and loops (take commands, schedule, run the
 * model, deliver deltas), sleeping on its inbox when nothing is runnable. Nobody else touches the core.
 */
export const makeEngine = (options: EngineActorOptions) =>
  Effect.gen(function*() {
    const core = new EngineCore(options.core)
    const capacity = options.outputBufferSize ?? 64
    // A step delivers one delta per token it samples for a sequence: with speculation up to K + 1. The
    // sequence pauses once its buffer holds `capacity`, so the buffer must also hold the rest of that step.
    const perStep = (options.core.speculative?.numSpeculativeTokens ?? 0) + 1
    const maxWaiting = options.maxWaitingRequests ?? 1024
    // Bounded: at most one Add, one Abort and one outstanding Resume per sequence are ever queued.
    const inbox = yield* Queue.bounded<Command>(4 * maxWaiting + 4096)
    const handles = new Map<string, Handle>()
    let pendingAdds = 0

    const failHandle = (h: Handle, error: EngineError) => {
      Queue.failCauseUnsafe(h.queue, Cause.fail(error))
      handles.delete(h.spec.id)
      core.abort(h.spec.id)
    }

    const handle = (cmd: Command) => {
      switch (cmd._tag) {
        case "Add":
          pendingAdds -= cmd.handles.length
          for (const h of cmd.handles) {
            try {
              core.add(h.spec)
              handles.set(h.spec.id, h)
            } catch (e) {
              failHandle(h, new EngineError({ reason: "invalid_request", message: (e as Error).message }))
            }
          }
          return
        case "Abort":
          for (const id of cmd.ids) {
            core.abort(id)
            handles.delete(id)
          }
          return
        case "Resume": {
          const h = handles.get(cmd.id)
          if (h !== undefined) {
            h.paused = false
            h.resumeSent = false
            core.unpause(cmd.id)
          }
          return
        }
      }
    }

    const deliver = (o: RequestOutput, now: number) => {
      const h = handles.get(o.requestId)
      if (h === undefined) return
      if (o.tokenIds.length > 0 && h.phases.firstTokenAt === undefined) h.phases.firstTokenAt = now
      if (o.specDecode !== undefined) h.phases.specDecode = o.specDecode
      let offered: boolean
      if (o.kvTransfer !== undefined) {
        // The block copies go to the connector; the reader gets their id (the blocks are free already).
        options.kvConnector!.producer!.offer(o.kvTransfer)
        const { kvTransfer, ...rest } = o
        offered = Queue.offerUnsafe(h.queue, { ...rest, index: h.index, kvTransferId: kvTransfer.transferId })
      } else offered = Queue.offerUnsafe(h.queue, { ...o, index: h.index })
      // Cannot happen while the buffer holds a step's deltas beyond `capacity`; were it to, the reader is
      // told, rather than handed a stream with a token missing.
      if (!offered) return failHandle(h, new EngineError({ reason: "internal", message: "the output buffer overflowed" }))
      if (o.finishReason !== null) {
        h.phases.finishedAt = now
        Queue.endUnsafe(h.queue)
        handles.delete(o.requestId)
      } else if (Queue.sizeUnsafe(h.queue) >= capacity) {
        // The reader is behind: keep the sequence's KV but stop scheduling it until the reader drains.
        h.paused = true
        core.pause(o.requestId, now)
      }
    }

    const runStep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const plan = core.prepareStep(now)
      if (plan === null) return false
      for (const ch of plan.chunks) {
        const h = handles.get(ch.request.id)
        if (h !== undefined && h.phases.scheduledAt === undefined) h.phases.scheduledAt = now
      }
      // A step forks into a fiber only when the draft model has drafting ahead to do beside it.
      const logits = yield* Effect.exit(options.executor.offThread === true && core.draftsAhead ? whileStepRuns(options.executor.execute(plan.batch), () => core.proposeAhead(plan)) : options.executor.execute(plan.batch))
      if (logits._tag === "Failure") {
        const message = `model execution failed: ${Cause.pretty(logits.cause).split("\n")[0]}`
        yield* Effect.logError(message)
        for (const ch of plan.chunks) {
          const h = handles.get(ch.request.id)
          if (h !== undefined) failHandle(h, new EngineError({ reason: "internal", message: "model execution failed" }))
        }
        return true
      }
      const outputs = core.completeStep(plan, logits.value)
      const done = yield* Clock.currentTimeMillis
      for (const o of outputs) deliver(o, done)
      options.onStep?.(core)
      return true
    })

    const loop = Effect.gen(function*() {
      while (true) {
        for (const cmd of yield* Queue.clear(inbox)) handle(cmd)
        const ran = yield* runStep
        if (ran) {
          // In process, the step held the event loop: let HTTP fibers and readers run before the next one.
          if (options.executor.offThread !== true) yield* Effect.yieldNow
          continue
        }
        // Idle: sleep until a command arrives, or until a paused sequence reaches its stall limit.
        const deadline = core.nextStallDeadline()
        if (deadline === null) handle(yield* Queue.take(inbox))
        else {
          const now = yield* Clock.currentTimeMillis
          const cmd = yield* Queue.take(inbox).pipe(Effect.timeoutOption(Math.max(1, deadline - now)))
          if (Option.isSome(cmd)) handle(cmd.value)
        }
      }
    })
    yield* Effect.forkScoped(loop)

    /** The request's KV export id, or its fetched import; a transfer that cannot be had fails the request. */
    const kvPart = (kvTransfer: KvTransferRequest, n: number) =>
      Effect.gen(function*() {
        const refusal = kvRoleRefusal(options.kvConnector ?? null, kvTransfer, n)
        if (refusal !== null) return yield* new EngineError({ reason: "invalid_request", message: refusal })
        const started = performance.now()
        // The fetch counters live with the core's transfer counters (plain numbers: no step reads them).
        const st = core.kvStats
        return yield* kvSpecOf(options.kvConnector!, kvTransfer).pipe(
          Effect.tap((spec) => Effect.sync(() => {
            if (st === null || spec.kvImport === undefined) return
            st.fetches++
            st.fetchSeconds += (performance.now() - started) / 1000
          })),
          // An unknown transfer is the request's fault (400); a corrupt, cut or unreachable one the servers' (500: a router retries elsewhere).
          Effect.mapError((e) => {
            if (st !== null) st.fetchFailures++
            return new EngineError({ reason: e instanceof KvTransferError && e.notFound ? "invalid_request" : "internal", message: `the KV transfer failed: ${e.message}` })
          })
        )
      })

    const submit = (request: GenerateRequest) =>
      Effect.gen(function*() {
        const p = request.params
        const promptLen = request.promptTokenIds.length
        if (promptLen === 0) return yield* new EngineError({ reason: "invalid_request", message: "the prompt is empty" })
        if (promptLen >= options.info.maxModelLen) {
          return yield* new EngineError({
            reason: "invalid_request",
            message: `This model's maximum context length is ${options.info.maxModelLen} tokens. However, your prompt has ${promptLen} tokens; it must leave room for at least one generated token.`
          })
        }
        const vocab = options.core.vocabSize
        for (const t of request.promptTokenIds) {
          if (!Number.isInteger(t) || t < 0 || t >= vocab) return yield* new EngineError({ reason: "invalid_request", message: `token id ${t} is outside the vocabulary [0, ${vocab})` })
        }
        if (core.stats().numRequestsWaiting + pendingAdds + p.n > maxWaiting) {
          return yield* new EngineError({ reason: "overloaded", message: `its waiting queue (${maxWaiting} sequences) is full; retry later` })
        }
        const kv = request.kvTransfer === undefined ? {} : yield* kvPart(request.kvTransfer, p.n)
        const id = request.requestId ?? newRequestId()
        const submittedAt = yield* Clock.currentTimeMillis
        const hs: Array<Handle> = []
        for (let i = 0; i < p.n; i++) {
          const seqId = p.n === 1 ? id : `${id}#${i}`
          hs.push({
            spec: { id: seqId, promptTokenIds: request.promptTokenIds, params: p, priority: request.priority, cacheSalt: request.cacheSalt, seqIndex: i, groupId: id, pooling: request.pooling, speculate: request.speculate, ...kv },
            index: i,
            queue: yield* Queue.bounded<EngineDelta, EngineError | Cause.Done>(capacity + perStep),
            paused: false,
            resumeSent: false,
            phases: { requestId: seqId, index: i, submittedAt, scheduledAt: undefined, firstTokenAt: undefined, finishedAt: undefined }
          })
        }
        pendingAdds += hs.length
        yield* Queue.offer(inbox, { _tag: "Add", handles: hs })
        return hs
      })

    /** The reader took a delta: if its sequence was paused and there is room again, wake it. */
    const afterTake = (h: Handle) =>
      Effect.sync(() => {
        if (h.paused && !h.resumeSent && Queue.sizeUnsafe(h.queue) < capacity / 2) {
          h.resumeSent = Queue.offerUnsafe(inbox, { _tag: "Resume", id: h.spec.id })
        }
      })

    const generate = (request: GenerateRequest): Stream.Stream<EngineDelta, EngineError> =>
      Stream.unwrap(
        Effect.gen(function*() {
          // The caller's span (the RequestObserver's), captured here, parents the phase spans.
          const parent = yield* Effect.serviceOption(Tracer.ParentSpan)
          const hs = yield* Effect.acquireRelease(submit(request), (hs) =>
            // Idempotent: aborting a finished request is a no-op in the core.
            Queue.offer(inbox, { _tag: "Abort", ids: hs.map((h) => h.spec.id) }).pipe(
              Effect.andThen(Clock.currentTimeMillis),
              Effect.flatMap((now) => recordEnginePhases(options.info.modelName, parent, hs.map((h) => h.phases), now))
            ))
          const streams = hs.map((h) => Stream.fromQueue(h.queue).pipe(Stream.tap(() => afterTake(h))))
          return streams.length === 1 ? streams[0] : Stream.mergeAll(streams, { concurrency: "unbounded" })
        })
      )

    return Engine.of({
      info: { ...options.info, maxWaitingRequests: maxWaiting },
      generate,
      stats: Effect.sync(() => core.stats()),
      checkInvariants: Effect.sync(() => core.checkInvariants())
    })
  })
