import { Effect, Layer, Stream } from "effect"
import { Engine, EngineError, type EngineInfo } from "../actors/engine.ts"
import { parseModelConfig } from "../engine/config.ts"

/**
 * The Engine of a gateway-only server (`inferline serve --no-model`): there is no model, so nothing
 * is loaded and every model group is the router's remote deployments. It exists so the routes that
 * read the engine (metrics, /v1/models, /tokenize) work unchanged; they ask `info.gatewayOnly` and
 * leave the served model out. Any request that reaches it is refused as the request's fault.
 */
const info: EngineInfo = {
  modelName: "",
  gatewayOnly: true,
  // Never used for inference: the shape of a config, so code that reads one needs no special case.
  config: parseModelConfig("(no model)/config.json", {
    architectures: ["LlamaForCausalLM"], vocab_size: 2, hidden_size: 2, intermediate_size: 2,
    num_hidden_layers: 1, num_attention_heads: 1, max_position_embeddings: 1
  }),
  tokenizer: null,
  generation: { eosTokenIds: [] },
  maxModelLen: 0,
  blockSize: 1,
  numBlocks: 0,
  maxWaitingRequests: 0,
  enablePrefixCaching: false
}

const refused = new EngineError({ reason: "invalid_request", message: "This server runs without a model (--no-model): send a `model` that names one of its model groups." })

export const noEngineLayer: Layer.Layer<Engine> = Layer.succeed(Engine, Engine.of({
  info,
  generate: () => Stream.fail(refused),
  stats: Effect.succeed({
    numRequestsRunning: 0, numRequestsWaiting: 0, numRequestsPaused: 0, kvCacheUsage: 0, numFreeBlocks: 0,
    prefixCacheQueries: 0, prefixCacheHits: 0, numPreemptions: 0, promptTokensTotal: 0, generationTokensTotal: 0,
    iterationTokensTotal: 0, steps: 0
  }),
  checkInvariants: Effect.void
}))
