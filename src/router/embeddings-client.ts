import { Effect } from "effect"
import { ProviderError } from "./providers/provider.ts"
import { upstreamError } from "./providers/upstream-error.ts"
import { postJsonForText, type UpstreamPool } from "./providers/upstream-http.ts"

/** An OpenAI-compatible embeddings endpoint: POST {apiBase}/embeddings with { model, input }. */
export interface EmbeddingsEndpoint {
  /** Names it in errors and logs (a deployment id). */
  readonly id: string
  readonly apiBase: string
  readonly model: string
  readonly headers: Readonly<Record<string, string>>
}

/** A 2xx answer that is not embeddings of the texts sent (code `bad_embeddings`). */
const badBody = (endpoint: EmbeddingsEndpoint, what: string) =>
  new ProviderError({ kind: "server", message: `the embedding deployment ${endpoint.id} answered with a body that is not usable.`, detail: what, code: "bad_embeddings" })

/**
 * The embeddings of `input`, in its order: one array of numbers per text, all of one length. Used by
 * the semantic router and by the semantic cache's deployment embedder. Fails with the upstream's error
 * for a non-2xx status, with `deadline.error()` past `deadline.ms`, and with code `bad_embeddings` when
 * the body is not `{ data: [{ index, embedding: number[] }, ...] }` covering every text.
 */
export const fetchEmbeddings = (
  pool: UpstreamPool,
  endpoint: EmbeddingsEndpoint,
  input: ReadonlyArray<string>,
  deadline: { readonly ms: number; readonly error: () => ProviderError }
): Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, ProviderError> =>
  Effect.flatMap(
    postJsonForText(pool, `${endpoint.apiBase}/embeddings`, endpoint.headers, JSON.stringify({ model: endpoint.model, input }), deadline),
    ({ status, headers, text }) => {
      if (status < 200 || status >= 300) return Effect.fail(upstreamError(endpoint.id, status, headers, text))
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return Effect.fail(badBody(endpoint, "not JSON"))
      }
      const vectors = embeddingVectors(json, input.length)
      return typeof vectors === "string" ? Effect.fail(badBody(endpoint, vectors)) : Effect.succeed(vectors)
    }
  )

/**
 * The vectors of an OpenAI embeddings response for `count` texts, in their order, or what is wrong with
 * it: `{ data: [{ index, embedding: number[] }, ...] }` covering every text, all of one length.
 */
export const embeddingVectors = (json: unknown, count: number): ReadonlyArray<ReadonlyArray<number>> | string => {
  const data = (json as { data?: unknown } | null)?.data
  if (!Array.isArray(data) || data.length !== count) return `expected ${count} embeddings`
  const vectors = new Array<ReadonlyArray<number>>(count)
  for (const d of data as Array<{ index?: unknown; embedding?: unknown } | null>) {
    const index = d?.index, embedding = d?.embedding
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count || vectors[index] !== undefined) return "bad or repeated index"
    if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every((x) => typeof x === "number" && Number.isFinite(x))) return "an embedding is not an array of numbers"
    vectors[index] = embedding
  }
  if (vectors.some((v) => v.length !== vectors[0].length)) return "embeddings of different lengths"
  return vectors
}

