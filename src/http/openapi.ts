import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Engine } from "../actors/engine.ts"
import { docsPage } from "./docs-page.ts"
import type { Endpoint } from "./endpoint.ts"
import { OPERATIONS_ENDPOINTS } from "./openapi-operations.ts"
import { ChatCompletionRequest, CompletionRequest, DetokenizeRequest, EmbeddingRequest, TokenizeRequest } from "./schemas.ts"

/**
 * The API's OpenAPI 3.1 document. Request bodies are generated from the same effect Schemas that
 * validate them; responses are described by the small schemas below (documentation only).
 */

export type { Endpoint }

const Usage = Schema.Struct({
  prompt_tokens: Schema.Int,
  completion_tokens: Schema.Int,
  total_tokens: Schema.Int,
  prompt_tokens_details: Schema.Struct({ cached_tokens: Schema.Int.annotate({ description: "Prompt tokens served from the prefix cache." }) })
}).annotate({ identifier: "Usage" })

const FinishReason = Schema.NullOr(Schema.Literals(["stop", "length", "abort"]))

const ChatCompletion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion"),
  created: Schema.Int,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Int,
    message: Schema.Struct({ role: Schema.Literal("assistant"), content: Schema.String }),
    logprobs: Schema.NullOr(Schema.Struct({ content: Schema.Array(Schema.Unknown) })),
    finish_reason: FinishReason,
    stop_reason: Schema.NullOr(Schema.Union([Schema.String, Schema.Int])).annotate({ description: "vLLM extra: the stop string or token id that ended the choice." })
  })),
  usage: Usage
}).annotate({ identifier: "ChatCompletion", description: "With stream: true the response is text/event-stream of chat.completion.chunk objects, ending with data: [DONE]." })

const Completion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("text_completion"),
  created: Schema.Int,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Int,
    text: Schema.String,
    logprobs: Schema.NullOr(Schema.Struct({
      tokens: Schema.Array(Schema.String),
      token_logprobs: Schema.Array(Schema.NullOr(Schema.Number)),
      top_logprobs: Schema.Array(Schema.NullOr(Schema.Record(Schema.String, Schema.Number))),
      text_offset: Schema.Array(Schema.Int)
    })),
    finish_reason: FinishReason
  })),
  usage: Usage
}).annotate({ identifier: "Completion" })

const EmbeddingList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Schema.Struct({
    object: Schema.Literal("embedding"),
    index: Schema.Int,
    embedding: Schema.Union([Schema.Array(Schema.Number), Schema.String]).annotate({ description: "float32 numbers, or their little-endian bytes in base64 (encoding_format: base64)." })
  })),
  model: Schema.String,
  usage: Schema.Struct({ prompt_tokens: Schema.Int, total_tokens: Schema.Int })
}).annotate({ identifier: "EmbeddingList" })

const ModelList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Schema.Struct({ id: Schema.String, object: Schema.Literal("model"), created: Schema.Int, owned_by: Schema.String, max_model_len: Schema.Int }))
}).annotate({ identifier: "ModelList" })

const TokenizeResponse = Schema.Struct({ count: Schema.Int, max_model_len: Schema.Int, tokens: Schema.Array(Schema.Int) })
  .annotate({ identifier: "TokenizeResponse" })
const DetokenizeResponse = Schema.Struct({ prompt: Schema.String }).annotate({ identifier: "DetokenizeResponse" })

export const ErrorResponse = Schema.Struct({
  error: Schema.Struct({ message: Schema.String, type: Schema.String, param: Schema.NullOr(Schema.String), code: Schema.NullOr(Schema.String) })
}).annotate({ identifier: "ErrorResponse" })

const json = (schema: Schema.Top) => ({ contentType: "application/json", schema })

export const ENDPOINTS: ReadonlyArray<Endpoint> = [
  {
    method: "POST", path: "/v1/chat/completions", tag: "OpenAI", summary: "Chat completion",
    description: "Generates the assistant's reply to a conversation, rendered with the model's chat template. With `stream: true`, server-sent events as OpenAI sends them.",
    request: ChatCompletionRequest, response: json(ChatCompletion), streams: true,
    example: { model: "inferline-kjv", messages: [{ role: "user", content: "In the beginning" }], max_tokens: 40 }
  },
  {
    method: "POST", path: "/v1/completions", tag: "OpenAI", summary: "Legacy completion",
    description: "Continues a prompt given as text, a list of texts, token ids or lists of token ids; `echo` and `logprobs` in the legacy format.",
    request: CompletionRequest, response: json(Completion), streams: true,
    example: { model: "inferline-kjv", prompt: "And God said", max_tokens: 20, logprobs: 2 }
  },
  {
    method: "POST", path: "/v1/embeddings", tag: "OpenAI", summary: "Embeddings",
    description: "Embeds each input: with the served model, its final hidden states pooled (--pooling last|mean) and normalized; with a model group, its embedding deployments (model_info.mode: embedding). Through keys, limits, budgets, the router and the ledger like chat.",
    request: EmbeddingRequest, response: json(EmbeddingList),
    example: { model: "inferline-kjv", input: ["In the beginning", "And God said"] }
  },
  {
    method: "POST", path: "/v1/messages", tag: "Anthropic", summary: "Messages (Anthropic)",
    description: "Anthropic's Messages API: system, text/image/tool_use/tool_result blocks, tools, tool_choice, stop_sequences, metadata.user_id, `stream` with Anthropic's events (message_start, content_block_start, ping, content_block_delta, content_block_stop, message_delta, message_stop). Served like chat completions (translated); errors in Anthropic's shape `{type: \"error\", error: {type, message}}`. Keys in `x-api-key` or Bearer.",
    streams: true,
    example: { model: "inferline-kjv", max_tokens: 40, messages: [{ role: "user", content: "In the beginning" }] }
  },
  {
    method: "POST", path: "/v1/messages/count_tokens", tag: "Anthropic", summary: "Count tokens (Anthropic)",
    description: "`{input_tokens}` of a Messages request (without max_tokens): exact for the served model (its chat template and tokenizer, tools included), Anthropic's own for a group of Anthropic deployments, estimated for other groups.",
    example: { model: "inferline-kjv", messages: [{ role: "user", content: "In the beginning" }] }
  },
  {
    method: "POST", path: "/v1/responses", tag: "OpenAI", summary: "Create a response",
    description: "OpenAI's Responses API: text or message input items, `instructions`, function tools and function_call_output items, `text.format` (json_schema by guided decoding on the served model), `stream` with the typed events (response.created, response.output_text.delta, response.function_call_arguments.delta, response.completed, ...), `store` (default true) and `previous_response_id`. Served like chat completions.",
    streams: true,
    example: { model: "inferline-kjv", instructions: "Answer briefly.", input: "In the beginning", max_output_tokens: 40 }
  },
  { method: "GET", path: "/v1/responses/{id}", tag: "OpenAI", summary: "Retrieve a response", description: "A stored response, as it was answered. Only the key that made it can read it (404 otherwise)." },
  { method: "DELETE", path: "/v1/responses/{id}", tag: "OpenAI", summary: "Delete a response", description: "Deletes a stored response of this key: `{id, object: \"response\", deleted: true}`." },
  {
    method: "GET", path: "/v1/responses/{id}/input_items", tag: "OpenAI", summary: "A response's input items",
    description: "The stored response's input items with their ids: `?order=asc|desc` (desc), `?limit=1..100` (20), `?after=<item id>`."
  },
  { method: "GET", path: "/v1/models", tag: "OpenAI", summary: "List models", description: "The served model.", response: json(ModelList) },
  {
    method: "GET", path: "/v1/ws", tag: "OpenAI", summary: "WebSocket streaming",
    description: "Upgrade to a WebSocket, send `{\"type\": \"chat.completions\", ...request}` or `{\"type\": \"completions\", ...request}`, receive the same chunks as the SSE stream, then `{\"type\": \"done\"}`. Send `{\"type\": \"cancel\"}` to abort (answered by `{\"type\": \"done\", \"cancelled\": true}`). Errors arrive as `{\"type\": \"error\", \"error\": {...}}`. One request at a time per connection."
  },
  {
    method: "POST", path: "/tokenize", tag: "vLLM", summary: "Tokenize",
    description: "Tokenizes a prompt, or chat messages rendered with the chat template.",
    request: TokenizeRequest, response: json(TokenizeResponse), example: { prompt: "In the beginning" }
  },
  {
    method: "POST", path: "/detokenize", tag: "vLLM", summary: "Detokenize", description: "Turns token ids back into text.",
    request: DetokenizeRequest, response: json(DetokenizeResponse), example: { tokens: [1, 2, 3] }
  },
  {
    method: "DELETE", path: "/cache", tag: "Operations", summary: "Clear the response cache",
    description: "Master key. Clears the response cache: everything, or the entries of `?key=<key id>`, `?team=<team id>` or `?model=<group>` (combinable). Answers `{\"object\": \"cache.clear\", \"enabled\", \"deleted\"}`."
  },
  { method: "GET", path: "/health", tag: "Operations", access: "public", summary: "Health", description: "200 with an empty body while the server is up (it listens only once the model is loaded)." },
  {
    method: "GET", path: "/health/liveness", tag: "Operations", access: "public", summary: "Liveness",
    description: "200 `{\"status\": \"ok\", \"uptime_seconds\", \"event_loop_lag_ms\"}` while the process runs and its event loop comes round within 1 s, else 503. Checks nothing outside the process."
  },
  {
    method: "GET", path: "/health/readiness", tag: "Operations", access: "public", summary: "Readiness",
    description: "200 `{\"status\": \"ready\", \"checks\": {database, redis, engine, deployments}}` when the database and Redis (if configured) answer within 2 s, the model is loaded and every model group has a deployment out of cooldown; else 503 with `not_ready` and the failing check."
  },
  { method: "GET", path: "/metrics", tag: "Operations", summary: "Prometheus metrics", description: "vLLM's metric names with the prefix `inferline_`, labelled with model_name. Any key (none with --public-metrics).", response: { contentType: "text/plain", schema: null } },
  { method: "GET", path: "/openapi.json", tag: "Operations", access: "public", summary: "OpenAPI document", description: "This document." },
  { method: "GET", path: "/docs", tag: "Operations", access: "public", summary: "API docs", description: "A self-contained HTML page rendering this document.", response: { contentType: "text/html", schema: null } },
  ...OPERATIONS_ENDPOINTS
]

/** Generates the JSON Schema of `schema` into `components`, returning a reference to it. */
const componentRef = (schema: Schema.Top, components: Record<string, unknown>): unknown => {
  const doc = Schema.toJsonSchemaDocument(schema)
  const rewrite = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(rewrite)
      : value !== null && typeof value === "object"
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? v.replace("#/$defs/", "#/components/schemas/") : rewrite(v)]))
      : value
  for (const [name, definition] of Object.entries(doc.definitions)) components[name] = rewrite(definition)
  return rewrite(doc.schema)
}

export const openApiDocument = (modelName: string) => {
  const schemas: Record<string, unknown> = {}
  const errorRef = componentRef(ErrorResponse, schemas)
  const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: errorRef } } })
  const paths: Record<string, Record<string, unknown>> = {}
  for (const e of ENDPOINTS) {
    const content: Record<string, unknown> = {}
    if (e.response !== undefined) content[e.response.contentType] = e.response.schema === null ? {} : { schema: componentRef(e.response.schema, schemas) }
    if (e.streams === true) content["text/event-stream"] = { schema: { type: "string", description: "data: {chunk}\\n\\n events, then data: [DONE]\\n\\n" } }
    const responses: Record<string, unknown> = {
      [e.path === "/v1/ws" ? "101" : "200"]: { description: e.path === "/v1/ws" ? "Switching to the WebSocket protocol" : "OK", ...(Object.keys(content).length > 0 && { content }) }
    }
    if (e.request !== undefined) {
      responses["400"] = errorResponse("Malformed JSON, a field of the wrong type (param names it), or a prompt longer than max_model_len")
      responses["404"] = errorResponse("Unknown model (code model_not_found)")
      responses["413"] = errorResponse("Request body too large")
    }
    if (e.streams === true) {
      responses["503"] = errorResponse("Engine overloaded; retry after the Retry-After header's seconds")
      responses["500"] = errorResponse("Internal error")
    }
    const access = e.access ?? "key"
    if (access !== "public") responses["401"] = errorResponse("Keys are on and the key is missing, malformed, unknown, expired or revoked (code invalid_api_key)")
    if (access === "master") responses["403"] = errorResponse("An API key where the master key is needed (code insufficient_permissions)")
    if (e.request !== undefined && e.tag === "OpenAI") {
      responses["403"] = errorResponse("The key's or team's `models` do not include the model (code model_not_allowed)")
      responses["429"] = errorResponse("The key's, team's or deployment's rate limit, or every deployment of the group in cooldown; see Retry-After")
    }
    paths[e.path] = {
      ...paths[e.path],
      [e.method.toLowerCase()]: {
        summary: e.summary,
        description: e.description,
        tags: [e.tag],
        // Public routes answer without a key; the others need one when keys are on (a master key is a key).
        security: access === "public" ? [] : [{ bearer: [] }],
        // Which key (OpenAPI's security cannot say "the master key"): public, key or master.
        "x-inferline-access": access,
        ...(e.request !== undefined && {
          requestBody: {
            required: true,
            content: { "application/json": { schema: componentRef(e.request, schemas), ...(e.example !== undefined && { example: e.example }) } }
          }
        }),
        responses
      }
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Inferline",
      version: "0.1.0",
      description: `OpenAI-compatible API of Inferline, serving \`${modelName}\`. Unknown request fields are ignored; errors are \`{"error": {"message", "type", "param", "code"}}\`.`
    },
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key (sk-inf-...) or the master key; `x-api-key` works too. Only when the server has a master key." }
      }
    }
  }
}

export const openApiRoutes = Layer.mergeAll(
  HttpRouter.add("GET", "/openapi.json", Effect.gen(function*() {
    const { info } = yield* Engine
    return HttpServerResponse.jsonUnsafe(openApiDocument(info.modelName))
  })),
  HttpRouter.add("GET", "/docs", HttpServerResponse.html(docsPage))
)
