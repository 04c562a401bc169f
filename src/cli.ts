import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer, Metric, Runtime } from "effect"
import { Yaml } from "effect/encoding"
import { HttpServer } from "effect/http"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Engine } from "./actors/engine.ts"
import { databaseLayerFromConfig } from "./db/database.ts"
import { resolveBindHost } from "./gateway/bind-policy.ts"
import { gatewayLayerFromConfig } from "./gateway/layers.ts"
import { redisConnectionLayerFromEnv } from "./db/redis-connection.ts"
import { redisRouterStateLayer } from "./router/redis-router-state.ts"
import { DEFAULT_HEADER_TIMEOUT_SECONDS } from "./http/header-timeout.ts"
import { DEFAULT_SHUTDOWN_GRACE_SECONDS, httpServerLayer } from "./http/server.ts"
import { ModelLoadError } from "./engine/errors.ts"
import { findGgufFile } from "./engine/gguf/gguf-model.ts"
import type { LoadQuantization, WeightDtype } from "./engine/matrix.ts"
import { engineLayer, parseByteSize, servedModelNameOf, type EngineOptions } from "./layers/engine.ts"
import { observabilityLayerFromEnv } from "./observability/observability-layer.ts"
import { parseRouterConfig, ROUTER_CONFIG_KEYS, RouterConfigError, type RouterConfig } from "./router/config.ts"
import { routerLayer } from "./router/layer.ts"
import type { Router } from "./router/router.ts"
import { deploymentPrices } from "./router/price-table.ts"
import { responseCacheLayer } from "./cache/layer.ts"
import { semanticCacheEmbedder } from "./router/deployment-embedder.ts"
import { evaluationsLayer } from "./http/evaluation-judge.ts"
import { ledgerOptionsFromEnv } from "./ledger/ledger.ts"
import { scoreSinksFromEnv } from "./evaluation/score-sinks.ts"
import { didYouMean } from "./cli/did-you-mean.ts"
import { logFormatLayer, sayFor, warnFor } from "./cli/log-format.ts"
import { describeResolvedConfig } from "./cli/resolved-config.ts"
import { resolveSpeculative, SPECULATIVE_OPTIONS } from "./cli/speculative-flags.ts"
import { KV_TRANSFER_OPTIONS, resolveKvTransfer } from "./cli/kv-transfer-flags.ts"
import { noEngineLayer } from "./layers/no-engine.ts"
import { settleHeap } from "./cli/settle-heap.ts"
import { preflight, StartupError } from "./cli/preflight.ts"

/**
 * `inferline serve [MODEL] [flags]` (a Hugging Face model directory or a GGUF file): vLLM's flag names; every flag can also come from a JSON/YAML
 * config file (--config) or an INFERLINE_* environment variable. Precedence: flag > environment >
 * config file > default. Usage errors exit with code 2, failures to start with code 1.
 */

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const packageVersion = (JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8")) as { version: string }).version

/** The bundled demo model, found next to the package whatever the working directory. */
export const BUNDLED_MODEL_DIR = path.join(packageDir, "models", "inferline-kjv")

type Kind = "string" | "port" | "count" | "seconds" | "size" | "boolean" | "path" | "policy" | "choice" | "origins"

interface OptionSpec {
  readonly name: string
  readonly kind: Kind
  readonly value?: string
  readonly help: string
  /** For kind "choice": the accepted values. */
  readonly choices?: ReadonlyArray<string>
}

/** Every serve option: flag `--name`, config key `name` (or `name_with_underscores`), env INFERLINE_NAME. */
const SERVE_OPTIONS: ReadonlyArray<OptionSpec> = [
  { name: "host", kind: "string", value: "HOST", help: "Address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)." },
  { name: "port", kind: "port", value: "PORT", help: "Port to listen on (default 8000; 0 picks a free one)." },
  { name: "served-model-name", kind: "string", value: "NAME", help: "Model name clients send in `model` (default: the model directory's or GGUF file's name)." },
  { name: "max-model-len", kind: "count", value: "N", help: "Context length: prompt + output tokens (default: the model's max_position_embeddings)." },
  { name: "block-size", kind: "count", value: "N", help: "Tokens per KV cache block (default 16)." },
  { name: "max-num-seqs", kind: "count", value: "N", help: "Most sequences in one batch (default 128)." },
  { name: "max-num-batched-tokens", kind: "count", value: "N", help: "Token budget of one engine step (default 2048)." },
  { name: "kv-cache-memory", kind: "size", value: "SIZE", help: "Memory for the KV cache, e.g. 512MiB or 2GB (default 256MiB)." },
  { name: "max-waiting-requests", kind: "count", value: "N", help: "Sequences (prompts × n) that may wait for the engine; more get a 503, and a request asking for more alone a 400 (default 1024)." },
  { name: "tensor-parallel-size", kind: "count", value: "N", help: "Worker threads each engine step is split over (matmuls by columns, attention by heads); results are identical for every N (default: the machine's cores, at most 4; 1 for models under 1M parameters)." },
  { name: "dtype", kind: "choice", value: "auto|float32|bfloat16|float16", choices: ["auto", "float32", "bfloat16", "float16"], help: "Precision weight matrices are kept in and read at (default auto: the checkpoint's own; 16-bit halves memory and bytes per token)." },
  { name: "quantization", kind: "choice", value: "q8_0|q4_0", choices: ["q8_0", "q4_0"], help: "Quantize a safetensors checkpoint's weight matrices at load with ggml's Q8_0 or Q4_0 formulas; they stay quantized in memory and the matmuls read the blocks (GGUF files are already quantized: refused for them)." },
  { name: "scheduling-policy", kind: "policy", value: "fcfs|priority", help: "Admission order: first come first served, or by the requests' `priority` (default fcfs)." },
  { name: "pooling", kind: "choice", value: "last|mean", choices: ["last", "mean"], help: "How /v1/embeddings pools the model's final hidden states: last token or mean over the prompt, normalized (default last)." },
  { name: "enable-prefix-caching", kind: "boolean", help: "Reuse KV blocks of shared prompt prefixes (default on; --no-enable-prefix-caching turns it off)." },
  ...SPECULATIVE_OPTIONS,
  ...KV_TRANSFER_OPTIONS,
  { name: "max-request-body-size", kind: "size", value: "SIZE", help: "Largest accepted request body; larger ones get a 413 (default 2MiB)." },
  { name: "disable-log-requests", kind: "boolean", help: "Do not log one line per HTTP request." },
  { name: "header-timeout", kind: "seconds", value: "SECONDS", help: "Time a connection gets to send its request headers; silent connections are closed after it (default 10)." },
  { name: "master-key", kind: "string", value: "KEY", help: "Master key: turns API keys on and unlocks /admin (default: env INFERLINE_MASTER_KEY; without one, keys are off and only loopback may be bound)." },
  { name: "public-metrics", kind: "boolean", help: "Serve /metrics without a key when keys are on (for a Prometheus scraper)." },
  { name: "shutdown-grace", kind: "seconds", value: "SECONDS", help: "On SIGTERM/SIGINT: stop accepting connections, give in-flight requests and streams this long, then cancel them (default 5)." },
  { name: "no-model", kind: "boolean", help: "Gateway only: no local engine, every model group is a router config's remote deployments (needs --config)." },
  { name: "log-format", kind: "choice", choices: ["text", "json"], value: "text|json", help: "Log lines as text, or one JSON object per line for log shippers (default text)." },
  { name: "cors-allow-origins", kind: "origins", value: "ORIGINS", help: "Browser origins allowed to call the API (CORS), comma-separated, or * (default: none, CORS off)." },
  { name: "config", kind: "path", value: "FILE", help: "JSON or YAML file with any of these options as keys (flags override it)." }
]

const CONFIG_ONLY_KEYS = ["model"]

class UsageError extends Error {}

const envName = (option: string) => `INFERLINE_${option.toUpperCase().replaceAll("-", "_")}`

const pad = (s: string, n: number) => s + " ".repeat(Math.max(1, n - s.length))

export const serveHelp = (): string => {
  const rows = SERVE_OPTIONS.map((o) => [o.kind === "boolean" ? `--${o.name}` : `--${o.name} ${o.value}`, o.help] as const)
  const width = Math.max(...rows.map(([f]) => f.length)) + 2
  return [
    "Usage: inferline serve [MODEL] [options]",
    "",
    "Serves a model with an OpenAI-compatible API. MODEL is a Hugging Face model directory, a GGUF file",
    "or a directory holding one GGUF file (default: the bundled model",
    `${path.relative(process.cwd(), BUNDLED_MODEL_DIR) || BUNDLED_MODEL_DIR}).`,
    "",
    "Options:",
    ...rows.map(([flag, help]) => `  ${pad(flag, width)}${help}`),
    `  ${pad("-h, --help", width)}Show this help.`,
    "",
    "Every option can also be set in the config file (key: the flag name, e.g. max-model-len or",
    "max_model_len; the model as `model`) or as an environment variable (INFERLINE_PORT,",
    "INFERLINE_MAX_MODEL_LEN, INFERLINE_MODEL, INFERLINE_CONFIG, ...). Flags win over the environment,",
    "which wins over the config file."
  ].join("\n")
}

const mainHelp = () =>
  [
    `inferline ${packageVersion}: the LLM inference stack as one TypeScript runtime.`,
    "",
    "Usage: inferline <command> [options]",
    "",
    "Commands:",
    "  serve [MODEL]       Serve a model with the OpenAI-compatible HTTP API (see inferline serve --help)",
    "  config check FILE   Validate a config file and print the configuration serve would run",
    "",
    "Options:",
    "  -h, --help          Show this help",
    "  -v, --version       Show the version"
  ].join("\n")

/** The resolved configuration of `inferline serve`. */
export interface ServeConfig {
  /** null: gateway only (--no-model), no local engine. */
  readonly modelDir: string | null
  /** As asked for; undefined = the default (loopback). The bind policy decides the final host. */
  readonly host: string | undefined
  readonly port: number
  readonly engine: Omit<EngineOptions, "modelDir">
  readonly maxRequestBodyBytes: number
  /** Seconds a connection gets to send its request headers. */
  readonly headerTimeoutSeconds: number
  readonly logRequests: boolean
  readonly masterKey: string | undefined
  readonly publicMetrics: boolean
  /** Seconds in-flight requests get after a shutdown signal (--shutdown-grace). */
  readonly shutdownGraceSeconds: number
  /** Log lines as text or JSON (--log-format). */
  readonly logFormat: "text" | "json"
  /** Browser origins allowed by CORS; empty: CORS off. */
  readonly corsAllowOrigins: ReadonlyArray<string>
  /** Model groups and deployments from the config file (LiteLLM's model_list shape); none by default. */
  readonly router: RouterConfig
}

type RawValue = string | number | boolean

/** Checks and converts one option value from wherever it came (`source` names it in errors). */
const convert = (spec: OptionSpec, raw: RawValue, source: string, baseDir: string): string | number | boolean => {
  const bad = (expected: string) => new UsageError(`${source}: expected ${expected}, got ${JSON.stringify(raw)}`)
  switch (spec.kind) {
    case "string":
      if (typeof raw !== "string" || raw === "") throw bad("a non-empty string")
      return raw
    case "path":
      if (typeof raw !== "string" || raw === "") throw bad("a path")
      return path.resolve(baseDir, raw)
    case "policy":
      if (raw !== "fcfs" && raw !== "priority") throw bad("fcfs or priority")
      return raw
    case "origins": {
      const origins = String(raw).split(",").map((o) => o.trim()).filter((o) => o !== "")
      for (const o of origins) if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) throw bad("origins such as https://app.example.com (scheme and host, no path), comma-separated, or *")
      return origins.join(",")
    }
    case "choice":
      if (typeof raw !== "string" || !spec.choices!.includes(raw)) throw bad(`one of ${spec.choices!.join(", ")}`)
      return raw
    case "boolean": {
      if (typeof raw === "boolean") return raw
      const s = String(raw).toLowerCase()
      if (["1", "true", "yes", "on"].includes(s)) return true
      if (["0", "false", "no", "off"].includes(s)) return false
      throw bad("true or false")
    }
    case "port":
    case "count": {
      const n = typeof raw === "number" ? raw : /^\d+$/.test(String(raw).trim()) ? Number(raw) : NaN
      const min = spec.kind === "port" ? 0 : 1
      const max = spec.kind === "port" ? 65535 : Number.MAX_SAFE_INTEGER
      if (!Number.isSafeInteger(n) || n < min || n > max) throw bad(spec.kind === "port" ? "a port number (0-65535)" : "a positive integer")
      return n
    }
    case "seconds": {
      const n = typeof raw === "number" ? raw : /^\d+(\.\d+)?$/.test(String(raw).trim()) ? Number(raw) : NaN
      if (!Number.isFinite(n) || n <= 0) throw bad("a positive number of seconds")
      return n
    }
    case "size": {
      if (typeof raw === "number" && Number.isSafeInteger(raw) && raw > 0) return raw
      try {
        const n = parseByteSize(String(raw))
        if (n > 0) return n
      } catch {
        // reported below
      }
      throw bad("a size such as 512MiB, 2GB or a byte count")
    }
  }
}

/** Reads a config file: `.json` as JSON, anything else as YAML (a superset of JSON). */
const readConfigFile = (file: string): Record<string, unknown> => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (e) {
    throw new UsageError(`--config ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : (e as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = file.endsWith(".json") ? JSON.parse(text) : Yaml.parse(text)
  } catch (e) {
    throw new UsageError(`--config ${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`)
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`--config ${file}: expected a mapping of option names to values`)
  return parsed as Record<string, unknown>
}

const parseFlags = (args: ReadonlyArray<string>) => {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" } }
  for (const o of SERVE_OPTIONS) if (o.name !== "no-model") options[o.name] = { type: o.kind === "boolean" ? "boolean" : "string" }
  // `--no-model` is the negation of a boolean `model` for parseArgs; the model itself is the positional.
  options.model = { type: "boolean" }
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, allowNegative: true, strict: true })
  } catch (e) {
    // Node's messages go on with advice about "--" that does not apply here: keep the first sentence.
    const message = (e as Error).message.split(". ")[0]
    const unknown = /^Unknown option '--([^']+)'/.exec(message)?.[1]
    const known = SERVE_OPTIONS.flatMap((o) => (o.kind === "boolean" ? [o.name, `no-${o.name}`] : [o.name])).concat("help")
    const guess = unknown === undefined ? undefined : didYouMean(unknown.split("=")[0], known)
    throw new UsageError(guess === undefined ? message : `${message}; did you mean '--${guess}'?`)
  }
}

/**
 * Resolves `inferline serve` arguments against the environment and the config file. Throws UsageError
 * on anything it cannot use, naming where the bad value came from.
 */
export const resolveServeConfig = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): ServeConfig | "help" => {
  const { values, positionals } = parseFlags(args)
  if (values.help === true) return "help"
  if (values.model === true) throw new UsageError("--model: give the model as the positional MODEL (inferline serve MODEL), or --no-model for a gateway without one")
  if (values.model === false) (values as Record<string, unknown>)["no-model"] = true
  if (positionals.length > 1) throw new UsageError(`expected at most one MODEL_DIR, got ${positionals.length}: ${positionals.join(" ")}`)

  const settings = new Map<string, RawValue>()
  const configFile = typeof values.config === "string" ? path.resolve(cwd, values.config) : env.INFERLINE_CONFIG ? path.resolve(cwd, env.INFERLINE_CONFIG) : null
  let modelDir: string | null = null
  let routerFile: Record<string, unknown> = {}
  if (configFile !== null) {
    const source = (key: string) => `${configFile}: ${key}`
    const baseDir = path.dirname(configFile)
    const file = readConfigFile(configFile)
    routerFile = file
    for (const [rawKey, value] of Object.entries(file)) {
      // LiteLLM's sections (model_list, router_settings, ...) belong to the router.
      if (ROUTER_CONFIG_KEYS.includes(rawKey)) continue
      const key = rawKey.replaceAll("_", "-")
      if (key === "model") {
        if (typeof value !== "string" || value === "") throw new UsageError(`${source(rawKey)}: expected a model directory`)
        modelDir = path.resolve(baseDir, value)
        continue
      }
      const spec = SERVE_OPTIONS.find((o) => o.name === key && o.kind !== "path")
      if (spec === undefined) {
        throw new UsageError(`${source(rawKey)}: unknown option (known: ${[...CONFIG_ONLY_KEYS, ...SERVE_OPTIONS.filter((o) => o.kind !== "path").map((o) => o.name)].join(", ")})`)
      }
      const scalar = spec.kind === "origins" && Array.isArray(value) && value.every((v) => typeof v === "string")
        ? value.join(",")
        : spec.name === "speculative-config" && typeof value === "object" && value !== null ? JSON.stringify(value) : value
      if (typeof scalar !== "string" && typeof scalar !== "number" && typeof scalar !== "boolean") throw new UsageError(`${source(rawKey)}: expected a scalar value`)
      settings.set(spec.name, convert(spec, scalar, source(rawKey), baseDir))
    }
  }
  for (const spec of SERVE_OPTIONS) {
    const raw = env[envName(spec.name)]
    if (raw !== undefined && raw !== "" && spec.kind !== "path") settings.set(spec.name, convert(spec, raw, envName(spec.name), cwd))
  }
  if (env.INFERLINE_MODEL) modelDir = path.resolve(cwd, env.INFERLINE_MODEL)
  for (const spec of SERVE_OPTIONS) {
    const raw = (values as Record<string, string | boolean | undefined>)[spec.name]
    if (raw !== undefined && spec.kind !== "path") settings.set(spec.name, convert(spec, raw, `--${spec.name}`, cwd))
  }
  if (positionals.length === 1) modelDir = path.resolve(cwd, positionals[0])

  const get = <T>(name: string): T | undefined => settings.get(name) as T | undefined
  const noModel = get<boolean>("no-model") ?? false
  if (noModel && (positionals.length === 1 || modelDir !== null)) throw new UsageError("--no-model and a MODEL: a gateway-only server serves no model (drop one of them)")
  const resolvedModelDir = noModel ? null : modelDir ?? BUNDLED_MODEL_DIR
  // The groups the router's settings name are checked against the served model's name now, so a typo
  // in a fallback list is a usage error before the model loads.
  const servedModel = resolvedModelDir === null ? null : get<string>("served-model-name") ?? servedModelNameOf(resolvedModelDir)
  let router: RouterConfig
  try {
    router = parseRouterConfig(routerFile, env, { servedModel })
  } catch (e) {
    if (e instanceof RouterConfigError) throw new UsageError(`${configFile}: ${e.message}`)
    throw e
  }
  if (router.cache?.type === "redis" && (env.REDIS_URL ?? "") === "") throw new UsageError(`${configFile}: cache.type redis needs REDIS_URL (or use type local)`)
  let speculative: ReturnType<typeof resolveSpeculative>
  let kvTransfer: ReturnType<typeof resolveKvTransfer>
  try {
    speculative = resolveSpeculative(get, cwd)
    kvTransfer = resolveKvTransfer(get)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (noModel && kvTransfer !== null) throw new UsageError("--kv-role needs a model: a gateway-only server (--no-model) has no engine to prefill or decode")
  if (noModel && router.deployments.length === 0) throw new UsageError("--no-model: a gateway without a model needs a --config with a model_list of remote deployments")
  return {
    modelDir: resolvedModelDir,
    host: get<string>("host"),
    port: get<number>("port") ?? 8000,
    engine: {
      servedModelName: get<string>("served-model-name"),
      maxModelLen: get<number>("max-model-len"),
      blockSize: get<number>("block-size"),
      maxNumSeqs: get<number>("max-num-seqs"),
      maxNumBatchedTokens: get<number>("max-num-batched-tokens"),
      kvCacheMemoryBytes: get<number>("kv-cache-memory"),
      enablePrefixCaching: get<boolean>("enable-prefix-caching"),
      schedulingPolicy: get<"fcfs" | "priority">("scheduling-policy"),
      tensorParallelSize: get<number>("tensor-parallel-size"),
      dtype: ((d) => (d === undefined || d === "auto" ? undefined : d))(get<WeightDtype | "auto">("dtype")),
      quantization: get<LoadQuantization>("quantization"),
      maxWaitingRequests: get<number>("max-waiting-requests"),
      pooling: get<"last" | "mean">("pooling"),
      speculative: speculative ?? undefined,
      kvTransfer: kvTransfer ?? undefined
    },
    maxRequestBodyBytes: get<number>("max-request-body-size") ?? 2 * 2 ** 20,
    headerTimeoutSeconds: get<number>("header-timeout") ?? DEFAULT_HEADER_TIMEOUT_SECONDS,
    logRequests: !(get<boolean>("disable-log-requests") ?? false),
    masterKey: get<string>("master-key") ?? router.masterKey,
    publicMetrics: get<boolean>("public-metrics") ?? false,
    logFormat: get<"text" | "json">("log-format") ?? "text",
    shutdownGraceSeconds: get<number>("shutdown-grace") ?? DEFAULT_SHUTDOWN_GRACE_SECONDS,
    corsAllowOrigins: (get<string>("cors-allow-origins") ?? "").split(",").filter((o) => o !== ""),
    router
  }
}

/** Total bytes of the model's weight files (safetensors, or its GGUF file), for the loading message. */
const weightBytes = (dir: string): number => {
  try {
    const gguf = findGgufFile(dir)
    if (gguf !== null) return fs.statSync(gguf).size
    return fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0)
  } catch {
    return 0
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/**
 * Before loading: a GGUF file (or a directory holding one), or a directory with config.json; anything else
 * is not a model (e.g. the demo model not trained yet).
 */
const checkModelDir = (dir: string, quantization?: string) => {
  if (!fs.existsSync(dir)) throw new UsageError(`model not found: ${dir}`)
  let gguf: string | null
  try {
    gguf = findGgufFile(dir)
  } catch (e) {
    if (e instanceof ModelLoadError) throw new UsageError(e.message)
    throw e
  }
  if (gguf !== null && quantization !== undefined) {
    throw new UsageError(`--quantization ${quantization} applies to safetensors checkpoints; ${gguf} is a GGUF file, already quantized (its tensors keep the types they are stored in)`)
  }
  if (gguf === null && !fs.existsSync(path.join(dir, "config.json"))) {
    throw new UsageError(
      dir === BUNDLED_MODEL_DIR
        ? `the bundled model ${dir} is incomplete (no config.json): rebuild it with tools/train_demo.py, or pass a model directory`
        : `${dir} is neither a GGUF file nor a directory with config.json (a Hugging Face model) or one .gguf file`
    )
  }
}

/** `inferline serve`: loads the model (with timing), starts the server, prints where it listens. */
const serve = (config: ServeConfig) => {
  const started = performance.now()
  const say = sayFor(config.logFormat)
  const engine = config.modelDir === null ? noEngineLayer : engineLayer({ modelDir: config.modelDir, ...config.engine })
  const announceModel = Layer.effectDiscard(Effect.gen(function*() {
    const { info } = yield* Engine
    if (info.gatewayOnly === true) return
    const seconds = ((performance.now() - started) / 1000).toFixed(2)
    const sp = config.engine.speculative
    const kvt = config.engine.kvTransfer
    yield* say(
      `Model ready in ${seconds} s: ${info.config.architecture}, max_model_len ${info.maxModelLen}, ` +
        `KV cache ${info.numBlocks - 1} blocks x ${info.blockSize} tokens, prefix caching ${info.enablePrefixCaching ? "on" : "off"}` +
        (sp == null ? "" : `, speculative decoding ${sp.method} (${sp.numSpeculativeTokens} tokens, ${sp.method === "ngram" ? `prompt lookup ${sp.promptLookupMin}-${sp.promptLookupMax}` : `draft ${sp.model}`})`) +
        (kvt == null || kvt.role === "in-process" ? "" : kvt.role === "prefill" ? `, KV role prefill (KV transfer on ${kvt.host}:${kvt.port})` : `, KV role decode (KV from ${kvt.peerHost}:${kvt.peerPort})`)
    )
  }))
  const announceServer = Layer.effectDiscard(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const { info } = yield* Engine
    const url = HttpServer.formatAddress(server.address).replace(/\/$/, "")
    // Started: what startup left in this thread's heap goes back to the OS before the server waits for requests.
    settleHeap()
    const what = info.gatewayOnly === true ? `model groups '${[...new Set(config.router.deployments.map((d) => d.group))].join(", ")}' (gateway only)` : `model '${info.modelName}'`
    yield* say(`Serving ${what} at ${url}  (API docs: ${url}/docs, metrics: ${url}/metrics)`)
    yield* say("Press Ctrl+C to stop.")
    // Built last, so its finalizer is the first to run when a signal interrupts the program.
    yield* Effect.addFinalizer(() => say(`Shutting down: no new connections; in-flight requests get up to ${config.shutdownGraceSeconds} s to finish...`))
  }))
  // Keys, teams and the spend ledger live in DATABASE_URL's Postgres, or embedded PGlite under
  // INFERLINE_DATA_DIR; limits in memory, or Redis with REDIS_URL. The database stays visible to the
  // routes (/spend, /ui). Metrics are recorded into one registry that /metrics and OTLP both read.
  const metricRegistry: Metric.MetricRegistry = new Map()
  // One Redis connection (REDIS_URL) for the gateway's limits and key invalidations, the router's shared
  // state and the readiness check; layers built from the same value are built once.
  const redis = (process.env.REDIS_URL ?? "") === "" ? undefined : redisConnectionLayerFromEnv(process.env.REDIS_URL!)
  const gateway = Layer.mergeAll(
    gatewayLayerFromConfig({ masterKey: config.masterKey }, redis),
    observabilityLayerFromEnv({ serviceVersion: packageVersion, metricRegistry, deploymentPrices: deploymentPrices(config.router) })
  ).pipe(Layer.provideMerge(databaseLayerFromConfig()))
  return Effect.gen(function*() {
    const host = yield* resolveBindHost({ host: config.host, masterKeyConfigured: config.masterKey !== undefined || (process.env.INFERLINE_MASTER_KEY ?? "") !== "" })
    const appWith = <E, R>(router: Layer.Layer<Router, E, R>) => announceServer.pipe(
      Layer.provideMerge(httpServerLayer({ host, port: config.port, maxRequestBodyBytes: config.maxRequestBodyBytes, headerTimeoutSeconds: config.headerTimeoutSeconds, logRequests: config.logRequests, publicMetrics: config.publicMetrics, metricRegistry, corsAllowOrigins: config.corsAllowOrigins, shutdownGraceSeconds: config.shutdownGraceSeconds })),
      // The evaluation worker records into the registry /metrics reads, as request fibers do.
      Layer.provideMerge(evaluationsLayer(config.router.evaluators, ledgerOptionsFromEnv().journalDir, scoreSinksFromEnv()).pipe(Layer.provide(Layer.succeed(Metric.MetricRegistry, metricRegistry)))),
      Layer.provideMerge(router),
      Layer.provide(responseCacheLayer(config.router.cache, process.env.REDIS_URL, semanticCacheEmbedder(config.router))),
      Layer.provideMerge(announceModel.pipe(Layer.provideMerge(engine))),
      Layer.provide(gateway)
    )
    // With Redis, the router's state is shared with the other replicas and Redis is visible to the routes (readiness).
    const app = redis === undefined ? appWith(routerLayer(config.router)) : appWith(routerLayer(config.router).pipe(Layer.provide(redisRouterStateLayer))).pipe(Layer.provide(redis))
    if (config.router.ignoredKeys.length > 0) {
      yield* Effect.logWarning(`config: LiteLLM settings Inferline does not act on, ignored: ${config.router.ignoredKeys.join(", ")}`)
    }
    if (config.modelDir !== null) yield* say(`Loading model ${config.modelDir} (${mib(weightBytes(config.modelDir))} of weights)...`)
    yield* Layer.launch(app)
  }).pipe(
    Effect.onInterrupt(() => say("Stopped.")),
    Effect.tapCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.void
      const message = `inferline: could not start: ${describeError(Cause.squash(cause))}`
      return config.logFormat === "json" ? Effect.logError(message) : Console.error(message)
    }),
    Effect.provide(logFormatLayer(config.logFormat))
  )
}

/** The first message along an error's cause chain (a ServeError carries Node's EADDRINUSE in its cause). */
const describeError = (error: unknown): string => {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error && e.message !== "") return e.message
  }
  return String(error)
}

/** A signal (interruption) is a clean shutdown: exit 0. A failure to start: exit 1. */
const teardown: Runtime.Teardown = (exit, onExit) => onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)

const usageError = (message: string, help: string) => {
  console.error(`inferline: error: ${message}\nRun '${help}' for usage.`)
  process.exitCode = 2
}

const suggest = (word: string, known: ReadonlyArray<string>) => {
  const guess = didYouMean(word, known)
  return guess === undefined ? "" : `; did you mean '${guess}'?`
}

/**
 * `inferline config check FILE [serve flags]`: resolves the configuration exactly as `serve` would
 * (flags, then the environment, then FILE; paths relative to FILE; the model's config.json read), and
 * prints it as JSON with every default filled in. Exit 0 when `serve` would accept it, 2 when not.
 */
const configCommand = (args: ReadonlyArray<string>): void => {
  const [sub, file, ...flags] = args
  if (sub === "-h" || sub === "--help" || sub === undefined) return void console.log(configHelp)
  if (sub !== "check") return usageError(`unknown config command '${sub}'${suggest(sub, ["check"])}`, "inferline config --help")
  if (file === undefined) return usageError("config check: expected the config FILE", "inferline config --help")
  try {
    const config = resolveServeConfig(["--config", file, ...flags])
    if (config === "help") return void console.log(configHelp)
    if (config.modelDir !== null) checkModelDir(config.modelDir, config.engine.quantization)
    console.log(JSON.stringify(describeResolvedConfig(config, process.env), null, 2))
  } catch (e) {
    if (e instanceof UsageError || e instanceof ModelLoadError) return usageError(e.message, "inferline serve --help")
    throw e
  }
}

const configHelp = [
  "Usage: inferline config check FILE [serve options]",
  "",
  "Validates FILE (JSON or YAML) as `inferline serve --config FILE` would, with the environment and any",
  "serve options given, and prints the configuration that would run: paths resolved relative to FILE,",
  "defaults filled in, secrets shown as (set). Exit code 0 if it is valid, 2 if not."
].join("\n")

/** Entry point (bin/inferline.js): `args` are the arguments after the program name. */
export const main = (args: ReadonlyArray<string>): void => {
  const [command, ...rest] = args
  if (command === "-h" || command === "--help" || command === "help") return void console.log(mainHelp())
  if (command === "-v" || command === "--version") return void console.log(packageVersion)
  if (command === undefined) {
    console.error(mainHelp())
    process.exitCode = 2
    return
  }
  if (command === "config") return configCommand(rest)
  if (command !== "serve") return usageError(`unknown command '${command}'${suggest(command, ["serve", "config"])}`, "inferline --help")
  let config: ServeConfig | "help"
  try {
    config = resolveServeConfig(rest)
    if (config !== "help" && config.modelDir !== null) checkModelDir(config.modelDir, config.engine.quantization)
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, "inferline serve --help")
    throw e
  }
  if (config === "help") return void console.log(serveHelp())
  const resolved = config
  // What would fail only after the database and the model have started fails now, naming the fix.
  preflight({ host: resolved.host, port: resolved.port, modelDir: resolved.modelDir ?? undefined, env: process.env }).then(
    (warnings) => {
      for (const warning of warnings) warnFor(resolved.logFormat)(warning)
      // runMain interrupts the program on SIGINT/SIGTERM, which closes the server and the engine cleanly.
      NodeRuntime.runMain(serve(resolved), { disableErrorReporting: true, teardown })
    },
    (e: unknown) => {
      if (!(e instanceof StartupError)) throw e
      console.error(`inferline: could not start: ${e.message}`)
      process.exitCode = 1
    }
  )
}
