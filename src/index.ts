/**
 * Inferline as a library: the building blocks other Effect programs embed, and the test doubles their
 * tests compose. Everything not exported here is internal and may change.
 */
import * as path from "node:path"

/** The bundled demo model directory (a Hugging Face directory shipped in the package). */
export const bundledModelDir = path.join(import.meta.dirname, "..", "models", "inferline-kjv")

// Engine: the inference engine as an Effect service (generate -> Stream of deltas; interruption aborts).
export { Engine, EngineError, type EngineDelta, type EngineInfo, type GenerateRequest } from "./actors/engine.ts"
/** The Engine for a Hugging Face model directory, with vLLM-style options. */
export { engineLayer, type EngineOptions } from "./layers/engine.ts"
/** Disaggregated prefill/decode in one process: share one connector between a prefill and a decode engine (kvTransfer role "in-process"). */
export { InProcessKvConnector } from "./engine/kv-transfer/in-process-connector.ts"
export type { KvTransferOptions } from "./layers/kv-connector.ts"
/** Sampling parameters (vLLM's, camelCase) and their defaults. */
export { defaultSamplingParams, type SamplingParams } from "./engine/sampling-params.ts"
/** The model's tokenizer and chat template. */
export { TextTokenizer, type ChatMessage } from "./engine/tokenizer.ts"
/**
 * Guided decoding: `guidedCompilerFor(engine.info.tokenizer, engine.info.config.vocabSize).compile(spec)`
 * gives the grammar to put in SamplingParams' `guided` (a JSON Schema, json_object, regex, choices, GBNF
 * or tool calls); an impossible spec throws GrammarError.
 */
export { GuidedCompiler, guidedCompilerFor } from "./engine/guided/guided-compiler.ts"
export type { GuidedSpec } from "./engine/guided/guided-spec.ts"
export type { CompiledGrammar } from "./engine/guided/compiled-grammar.ts"
export { GrammarError } from "./engine/guided/grammar-error.ts"

// Gateway: virtual keys, teams and rate limits.
export { Gateway, type Permit } from "./gateway/gateway.ts"
export { GatewayAdmin } from "./gateway/gateway-admin.ts"
export { gatewayLayer, gatewayLayerFromConfig, type GatewayOptions } from "./gateway/layers.ts"
/** Postgres (DATABASE_URL) or embedded PGlite, migrated. */
export { databaseLayer, databaseLayerFromConfig } from "./db/database.ts"

// HTTP: the OpenAI-compatible API as routes to mount into another HttpRouter, or as a whole server.
export { apiRoutes, httpServerLayer, type HttpServerOptions } from "./http/server.ts"

// Router: model groups over local and remote deployments (LiteLLM's model_list config).
export { Router } from "./router/router.ts"
export { routerLayer, routerLayerFromConfig } from "./router/layer.ts"
export { parseRouterConfig, type RouterConfig } from "./router/config.ts"

// Ledger and telemetry: one spend row per request (batched into Postgres), GenAI spans and metrics.
export { Ledger, ledgerLayer } from "./ledger/ledger.ts"
export type { SpendRow } from "./ledger/spend-row.ts"
export { RequestObserver, requestObserverLayer } from "./observability/request-observer.ts"
export { observabilityLayerFromEnv } from "./observability/observability-layer.ts"

// Test doubles, for users' own tests.
/** A Ledger that keeps rows in memory. */
export { recordingLedger } from "./ledger/ledger.ts"
/** A fake OpenAI/Anthropic-compatible upstream on 127.0.0.1, scripted per request, recording socket closes. */
export { startFakeUpstream, type Behaviour, type FakeUpstream } from "./router/testing/fake-upstream.ts"
/** A real engine core (scheduler, KV blocks, actor) over a deterministic fake model: tokens follow `fakeNextToken`. */
export { fakeEngine, fakeEngineLayer, fakeNextToken, type FakeEngineOptions } from "./layers/fake-engine.ts"
/** An Engine that streams scripted text with controllable (TestClock-driven) timing. */
export { scriptedEngine, scriptedEngineLayer, type ScriptedEngineOptions, type ScriptedToken } from "./layers/scripted-engine.ts"
/** In-memory keys and limits (no database); without a master key, auth is off. */
export { gatewayTestLayer } from "./gateway/layers.ts"
