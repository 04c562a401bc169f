import { Effect } from "effect"
import { type Embedder, EmbedderError, unitVector } from "../cache/semantic/embedder.ts"
import { type EmbeddingsEndpoint, fetchEmbeddings } from "./embeddings-client.ts"
import { ProviderError } from "./providers/provider.ts"
import { makeUpstreamPool, type UpstreamPool } from "./providers/upstream-http.ts"
import { RouterConfigError, type RouterConfig } from "./config.ts"
import { openAiHeaders } from "./providers/openai.ts"

/**
 * The semantic cache's embedder over an OpenAI-compatible embedding deployment (POST
 * {api_base}/embeddings). It lives with the router, whose HTTP helpers it uses; the cache (a lower layer)
 * sees only the Embedder interface. Vectors are scaled to length 1; every failure is an EmbedderError
 * (the cache then goes on without itself).
 */
export interface DeploymentEmbedderOptions extends EmbeddingsEndpoint {
  readonly pool: UpstreamPool
  /** Per request (default 10 s). */
  readonly timeoutMs?: number
}

export const makeDeploymentEmbedder = (options: DeploymentEmbedderOptions): Embedder => {
  const timeoutMs = options.timeoutMs ?? 10_000
  let dimensions = 0
  const deadline = {
    ms: timeoutMs,
    error: () => new ProviderError({ kind: "timeout", message: `the embedding deployment ${options.id} timed out after ${timeoutMs} ms.` })
  }
  return {
    id: `deployment:${options.id}:${options.model}`,
    dimensions: () => dimensions,
    embed: (texts) =>
      texts.length === 0
        ? Effect.succeed([])
        : fetchEmbeddings(options.pool, options, texts, deadline).pipe(
          Effect.flatMap((vectors) => {
            if (dimensions !== 0 && vectors[0].length !== dimensions) {
              return Effect.fail(new EmbedderError({ reason: "bad_response", message: `the embedding deployment ${options.id} changed its vectors from ${dimensions} to ${vectors[0].length} dimensions.` }))
            }
            dimensions = vectors[0].length
            return Effect.succeed(vectors.map(unitVector))
          }),
          Effect.catchTag("ProviderError", (e) =>
            Effect.fail(new EmbedderError({ reason: e.code === "bad_embeddings" ? "bad_response" : "unavailable", message: `Embedding failed: ${e.message}`, detail: e.detail })))
        )
  }
}

/**
 * The semantic cache's embedder when `cache.semantic.embedding_model` names a model group: its first
 * OpenAI-compatible deployment (checkGroupReferences made sure there is one), over a pool of its own
 * so embeddings never queue behind model calls. Undefined for the built-in embedder.
 */
export const semanticCacheEmbedder = (config: RouterConfig): Embedder | undefined => {
  const embedding = config.cache?.semantic?.embedding
  if (embedding?._tag !== "Group") return undefined
  const deployment = config.deployments.find((d) => d.group === embedding.group && d.provider === "openai")
  if (deployment === undefined) throw new RouterConfigError({ message: `cache.semantic.embedding_model: no OpenAI-compatible deployment in group ${embedding.group}` })
  return makeDeploymentEmbedder({
    id: deployment.id,
    apiBase: deployment.apiBase,
    model: deployment.model,
    headers: openAiHeaders(deployment),
    pool: makeUpstreamPool(config.settings.maxConnectionsPerHost),
    // A lookup waits for it: at most 10 s, or the deployment's own timeout when shorter.
    timeoutMs: Math.min(deployment.timeoutMs, 10_000)
  })
}
