import { ProviderError } from "../router/providers/provider.ts"
import type { UsageMeter } from "../api/usage-meter.ts"

/**
 * The /v1/embeddings response as the client asked for it. Whoever made the vectors (the served model,
 * an upstream asked for floats), they leave here as float32 values, either as JSON numbers or as the
 * base64 of their little-endian bytes (OpenAI's encoding_format: "base64", which the openai SDKs ask
 * for by default and decode): both forms of one request carry the same numbers.
 */
export type EncodingFormat = "float" | "base64"

/** A vector as float32 numbers (what OpenAI's float format carries). */
export const float32Values = (vector: ReadonlyArray<number>): Array<number> => vector.map(Math.fround)

/** base64 of the vector's little-endian float32 bytes. */
export const base64Of = (vector: ReadonlyArray<number>): string => {
  const bytes = Buffer.alloc(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i], i * 4)
  return bytes.toString("base64")
}

/** The float32 values of a base64 embedding. */
export const fromBase64 = (text: string): Array<number> => {
  const bytes = Buffer.from(text, "base64")
  const out = new Array<number>(Math.floor(bytes.length / 4))
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4)
  return out
}

const unusable = (deployment: string, what: string) =>
  new ProviderError({ kind: "server", message: `the embedding deployment ${deployment} answered with a body that is not usable.`, detail: what, code: "bad_embeddings", deployment })

/**
 * The response to send: each item's vector in the asked encoding, the usage from the meter (the served
 * model's exact counts, or the upstream's `usage`), the model as it named itself. Fails when an
 * upstream's body is not a list of embeddings.
 */
export const embeddingResponse = (
  json: unknown,
  encoding: EncodingFormat,
  meter: UsageMeter,
  deployment: string
): { readonly body: unknown } | ProviderError => {
  const data = (json as { data?: unknown } | null)?.data
  if (!Array.isArray(data)) return unusable(deployment, "no data")
  const items: Array<unknown> = []
  for (const item of data as Array<{ index?: unknown; embedding?: unknown } | null>) {
    const raw = item?.embedding
    const vector = typeof raw === "string" ? fromBase64(raw) : raw
    if (!Array.isArray(vector) || !vector.every((x) => typeof x === "number" && Number.isFinite(x))) return unusable(deployment, "an embedding is not an array of numbers")
    items.push({ object: "embedding", index: item?.index, embedding: encoding === "base64" ? base64Of(vector) : float32Values(vector) })
  }
  const model = (json as { model?: unknown }).model
  return {
    body: {
      object: "list",
      data: items,
      model: typeof model === "string" ? model : null,
      usage: { prompt_tokens: meter.promptTokens, total_tokens: meter.promptTokens }
    }
  }
}
