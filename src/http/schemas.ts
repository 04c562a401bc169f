import { Schema } from "effect"

/**
 * Request bodies of the API as effect Schemas: decoding validates them (a wrong type is a 400 naming the
 * field), and the OpenAPI document is generated from the same schemas. Decoding itself ignores unknown
 * fields; the served model's path refuses them before decoding (request-fields.ts), so nothing a
 * client sends is dropped without a word. Every optional field also accepts `null`, which many clients
 * send for "unset".
 */

const optional = <S extends Schema.Top>(schema: S, description: string) =>
  Schema.optionalKey(Schema.NullOr(schema).annotate({ description }))

const StopSequences = Schema.Union([Schema.String, Schema.Array(Schema.String)])

/** Sampling and output fields shared by chat and legacy completions (OpenAI names, then vLLM extras). */
const samplingFields = {
  model: optional(Schema.String, "Served model name (GET /v1/models). Optional: defaults to the served model."),
  max_tokens: optional(Schema.Int, "Most tokens to generate. Default: what fits in max_model_len, capped by the model's generation_config max_new_tokens."),
  temperature: optional(Schema.Finite, "Softmax temperature; 0 is greedy. Default: the model's generation_config, else 1."),
  top_p: optional(Schema.Finite, "Nucleus sampling mass in (0, 1]. Default: the model's generation_config, else 1."),
  n: optional(Schema.Int, "Choices to generate for the prompt (default 1)."),
  stream: optional(Schema.Boolean, "Stream chunks as server-sent events (default false)."),
  stream_options: optional(
    Schema.Struct({
      include_usage: optional(Schema.Boolean, "Send a last chunk with `usage` and empty `choices`."),
      include_obfuscation: optional(Schema.Boolean, "false only: chunks carry no obfuscation padding.")
    }),
    "Streaming options."
  ),
  stop: optional(StopSequences, "Up to several strings that end a choice; they are not included in the output."),
  seed: optional(Schema.Int, "Makes sampling reproducible: the same seed and parameters give the same tokens."),
  presence_penalty: optional(Schema.Finite, "In [-2, 2]: subtracted once from tokens already in the output."),
  frequency_penalty: optional(Schema.Finite, "In [-2, 2]: subtracted per occurrence from tokens already in the output."),
  logit_bias: optional(Schema.Record(Schema.String, Schema.Finite), "Map from token id (as a string) to a bias added to its logit."),
  top_k: optional(Schema.Int, "vLLM extra: keep only the k most likely tokens (0 or -1: off)."),
  min_p: optional(Schema.Finite, "vLLM extra: drop tokens less likely than min_p times the most likely one."),
  repetition_penalty: optional(Schema.Finite, "vLLM extra: multiplicative penalty on tokens of the prompt and output (1: off)."),
  ignore_eos: optional(Schema.Boolean, "vLLM extra: keep generating past the end-of-sequence token."),
  min_tokens: optional(Schema.Int, "vLLM extra: tokens to generate before eos or stop may end a choice."),
  stop_token_ids: optional(Schema.Array(Schema.Int), "vLLM extra: token ids that end a choice."),
  skip_special_tokens: optional(Schema.Boolean, "vLLM extra: leave special tokens out of the text (default true)."),
  include_stop_str_in_output: optional(Schema.Boolean, "vLLM extra: keep the matched stop string in the output."),
  return_tokens_as_token_ids: optional(Schema.Boolean, "vLLM extra: logprob tokens as \"token_id:N\" instead of text."),
  prompt_logprobs: optional(Schema.Int, "vLLM extra: log-probabilities of the prompt tokens, with this many alternatives."),
  priority: optional(Schema.Int, "vLLM extra: scheduling priority under --scheduling-policy priority (lower runs first)."),
  cache_salt: optional(Schema.String, "vLLM extra: isolates this request's prefix-cache entries from requests with another salt."),
  speculative_decoding: optional(Schema.Boolean, "Inferline extra: false opts this request out of the server's speculative decoding (it changes no token, only speed)."),
  kv_transfer_params: optional(
    Schema.Struct({
      do_remote_decode: optional(Schema.Boolean, "On a prefill server (--kv-role prefill): prefill, sample the first token, hand the KV over; the answer carries kv_transfer_params.transfer_id."),
      do_remote_prefill: optional(Schema.Boolean, "On a decode server (--kv-role decode): continue from the prefill server's KV and first token."),
      transfer_id: optional(Schema.String, "With do_remote_prefill: the transfer_id the prefill server answered with.")
    }),
    "vLLM extra (disaggregated prefill/decode): this server's part in the request; a disaggregated router sets it."
  ),
  response_format: optional(
    Schema.Struct({
      type: Schema.String.annotate({ description: "text, json_object or json_schema" }),
      json_schema: Schema.optionalKey(Schema.Struct({
        name: Schema.optionalKey(Schema.String),
        description: Schema.optionalKey(Schema.String),
        schema: Schema.optionalKey(Schema.Unknown),
        strict: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
      }))
    }),
    "Structured output: {\"type\": \"json_object\"} (any JSON object) or {\"type\": \"json_schema\", \"json_schema\": {\"name\", \"schema\", \"strict\"}}; enforced by guided decoding (strict or not)."
  ),
  guided_json: optional(Schema.Unknown, "vLLM extra: a JSON Schema (object or JSON text) the output must match."),
  guided_regex: optional(Schema.String, "vLLM extra: a regular expression the whole output must match."),
  guided_choice: optional(Schema.Array(Schema.String), "vLLM extra: the output is exactly one of these strings."),
  guided_grammar: optional(Schema.String, "vLLM extra: a GBNF grammar (llama.cpp syntax, start rule `root`) the output must match."),
  structured_outputs: optional(
    Schema.Struct({
      json: Schema.optionalKey(Schema.NullOr(Schema.Unknown)),
      regex: Schema.optionalKey(Schema.NullOr(Schema.String)),
      choice: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
      grammar: Schema.optionalKey(Schema.NullOr(Schema.String)),
      json_object: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
    }),
    "vLLM extra (newer name of guided_*): one of json, regex, choice, grammar, json_object."
  ),
  user: optional(Schema.String, "Accepted, not used: an end-user id for abuse monitoring, which this server does not do."),
  safety_identifier: optional(Schema.String, "Accepted, not used (as user)."),
  metadata: optional(Schema.Record(Schema.String, Schema.String), "Accepted, not stored (OpenAI keeps it only with store: true)."),
  store: optional(Schema.Boolean, "false only: this server stores no completions."),
  service_tier: optional(Schema.String, "auto or default only: there is one tier."),
  prompt_cache_key: optional(Schema.String, "Accepted: prefix caching is automatic, for every request."),
  prompt_cache_retention: optional(Schema.String, "in_memory only: the prefix cache lives in memory.")
}

/** A content part of a chat message; only `text` parts are supported (checked after decoding). */
const ContentPart = Schema.Struct({
  type: Schema.String,
  text: Schema.optionalKey(Schema.String)
})

/** A tool call the assistant made earlier in the conversation. */
export const MessageToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.String.annotate({ description: "function" }),
  function: Schema.Struct({
    name: Schema.String,
    arguments: Schema.String.annotate({ description: "The arguments as JSON text." })
  })
})

export const ChatMessage = Schema.Struct({
  role: Schema.String.annotate({ description: "system, developer, user, assistant or tool" }),
  content: Schema.optionalKey(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ContentPart)])).annotate({
    description: "Text, or a list of {\"type\": \"text\", \"text\": ...} parts."
  })),
  name: Schema.optionalKey(Schema.String),
  tool_calls: Schema.optionalKey(Schema.NullOr(Schema.Array(MessageToolCall)).annotate({ description: "assistant: the tools it called." })),
  tool_call_id: Schema.optionalKey(Schema.String.annotate({ description: "tool: the call this message answers." })),
  refusal: Schema.optionalKey(Schema.Null)
})
export type ChatMessage = typeof ChatMessage.Type

/** A tool the model may call: an OpenAI function tool (checked further in tool-choice.ts). */
export const ToolDefinition = Schema.Struct({
  type: Schema.String.annotate({ description: "function" }),
  function: Schema.optionalKey(Schema.Struct({
    name: Schema.String,
    description: Schema.optionalKey(Schema.String),
    parameters: Schema.optionalKey(Schema.Unknown),
    strict: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
  }))
})
export type ToolDefinition = typeof ToolDefinition.Type

export const ChatCompletionRequest = Schema.Struct({
  messages: Schema.Array(ChatMessage).annotate({ description: "The conversation, rendered with the model's chat template." }),
  ...samplingFields,
  tools: optional(Schema.Array(ToolDefinition), "Function tools, rendered with the chat template; calls come back as message.tool_calls."),
  tool_choice: optional(
    Schema.Union([Schema.String, Schema.Record(Schema.String, Schema.Unknown)]),
    "none, auto (default with tools), required, {\"type\": \"function\", \"function\": {\"name\"}} or {\"type\": \"allowed_tools\", ...}; required and named calls are enforced by guided decoding."
  ),
  parallel_tool_calls: optional(Schema.Boolean, "Whether the model may call several tools in one answer (default true)."),
  modalities: optional(Schema.Array(Schema.String), "[\"text\"] only."),
  max_completion_tokens: optional(Schema.Int, "Same as max_tokens (the newer OpenAI name); wins when both are set."),
  logprobs: optional(Schema.Boolean, "Return the log-probability of each output token."),
  top_logprobs: optional(Schema.Int, "With logprobs: also the this many most likely tokens per position (0-20)."),
  add_generation_prompt: optional(Schema.Boolean, "vLLM extra: end the prompt with the assistant header (default true).")
}).annotate({ identifier: "ChatCompletionRequest" })
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

/** A legacy completions prompt: text, texts, token ids, or lists of token ids (one choice set per prompt). */
export const CompletionPrompt = Schema.Union([
  Schema.String,
  Schema.Array(Schema.String),
  Schema.Array(Schema.Int),
  Schema.Array(Schema.Array(Schema.Int))
])
export type CompletionPrompt = typeof CompletionPrompt.Type

export const CompletionRequest = Schema.Struct({
  prompt: CompletionPrompt.annotate({ description: "A string, a list of strings, a list of token ids or a list of token-id lists." }),
  ...samplingFields,
  echo: optional(Schema.Boolean, "Prepend the prompt to the returned text (and to logprobs)."),
  logprobs: optional(Schema.Int, "Return the log-probability of each token and of this many alternatives (0-20)."),
  best_of: optional(Schema.Int, "Only equal to n (or 1): this server does not sample extra candidates to pick from."),
  suffix: optional(Schema.String, "Only empty: this server does not insert text (no fill-in-the-middle).")
}).annotate({ identifier: "CompletionRequest" })
export type CompletionRequest = typeof CompletionRequest.Type

export const TokenizeRequest = Schema.Struct({
  model: optional(Schema.String, "Served model name; optional."),
  prompt: optional(Schema.String, "Text to tokenize (give this or messages)."),
  messages: optional(Schema.Array(ChatMessage), "Chat messages, rendered with the chat template, then tokenized."),
  add_special_tokens: optional(Schema.Boolean, "Add the tokenizer's special tokens (default true for prompt, false for messages)."),
  add_generation_prompt: optional(Schema.Boolean, "For messages: end with the assistant header (default true)."),
  return_token_strs: optional(Schema.Boolean, "Also return each token's string.")
}).annotate({ identifier: "TokenizeRequest" })
export type TokenizeRequest = typeof TokenizeRequest.Type

export const DetokenizeRequest = Schema.Struct({
  model: optional(Schema.String, "Served model name; optional."),
  tokens: Schema.Array(Schema.Int).annotate({ description: "Token ids to turn back into text." })
}).annotate({ identifier: "DetokenizeRequest" })
export type DetokenizeRequest = typeof DetokenizeRequest.Type

/** The fields both request kinds share, as the sampling-params mapping sees them. */
export type SamplingFields = Omit<CompletionRequest, "prompt" | "echo" | "logprobs" | "best_of" | "suffix">

/** The kind of a /v1/ws message: a chat or completion request (the rest of the message), or cancel. */
export const WebSocketRequestType = Schema.Struct({
  type: Schema.Literals(["chat.completions", "completions", "cancel"]).annotate({
    description: "chat.completions or completions (the rest of the message is that request), or cancel."
  })
})

export const EmbeddingRequest = Schema.Struct({
  input: CompletionPrompt.annotate({ description: "A string, a list of strings, a list of token ids or a list of token-id lists (at most 2048 inputs)." }),
  model: optional(Schema.String, "Model group (GET /v1/models). Optional: defaults to the served model."),
  encoding_format: optional(Schema.Literals(["float", "base64"]), "float (default): arrays of numbers; base64: little-endian float32 bytes, base64-encoded."),
  dimensions: optional(Schema.Int, "Length of the embeddings. The served model is no Matryoshka model: only its hidden size; upstreams decide for themselves."),
  user: optional(Schema.String, "The end user the request is for (ledger, spend reports, end-user budgets).")
}).annotate({ identifier: "EmbeddingRequest" })
export type EmbeddingRequest = typeof EmbeddingRequest.Type
