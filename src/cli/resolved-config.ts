import * as path from "node:path"
import { readModelConfig } from "../engine/model-dir.ts"
import { findGgufFile } from "../engine/gguf/gguf-model.ts"
import { DEFAULT_KV_CACHE_MEMORY } from "../layers/engine.ts"
import type { RouterConfig } from "../router/config.ts"
import type { SpeculativeConfig } from "../engine/spec-decode/config.ts"
import type { KvTransferOptions } from "../layers/kv-connector.ts"

/** What `inferline config check` needs of a resolved serve config (cli.ts's ServeConfig). */
export interface CheckedConfig {
  readonly modelDir: string | null
  readonly host: string | undefined
  readonly port: number
  readonly engine: {
    readonly servedModelName?: string | undefined
    readonly maxModelLen?: number | undefined
    readonly blockSize?: number | undefined
    readonly maxNumSeqs?: number | undefined
    readonly maxNumBatchedTokens?: number | undefined
    readonly kvCacheMemoryBytes?: number | undefined
    readonly enablePrefixCaching?: boolean | undefined
    readonly schedulingPolicy?: "fcfs" | "priority" | undefined
    readonly maxWaitingRequests?: number | undefined
    readonly speculative?: SpeculativeConfig | null | undefined
    readonly kvTransfer?: KvTransferOptions | null | undefined
  }
  readonly maxRequestBodyBytes: number
  readonly headerTimeoutSeconds: number
  readonly logRequests: boolean
  readonly logFormat: "text" | "json"
  readonly shutdownGraceSeconds: number
  readonly masterKey: string | undefined
  readonly publicMetrics: boolean
  readonly corsAllowOrigins: ReadonlyArray<string>
  readonly router: RouterConfig
}

/** The --kv-role options as the config file names them (the role's own keys only). */
const kvTransferKeys = (t: KvTransferOptions | null): Record<string, unknown> =>
  t === null || t.role === "in-process" ? { "kv-role": null }
    : t.role === "prefill" ? { "kv-role": "prefill", "kv-transfer-host": t.host, "kv-transfer-port": t.port, "kv-transfer-timeout": (t.ttlMs ?? 60_000) / 1000 }
    : { "kv-role": "decode", "kv-peer": `${t.peerHost}:${t.peerPort}` }

/** The model's own context length, when its config.json says it (a GGUF file is read only when served). */
const modelMaxLen = (dir: string): number | "from the GGUF file" => {
  if (findGgufFile(dir) !== null) return "from the GGUF file"
  return readModelConfig(dir).maxPositionEmbeddings
}

const servedNameOf = (dir: string) => path.basename(dir).replace(/\.gguf$/i, "")

/**
 * The configuration `inferline serve` would run with, every default filled in and every path absolute,
 * under the option names the config file uses. Secrets are shown as "(set)", never their value.
 */
export const describeResolvedConfig = (config: CheckedConfig, env: Record<string, string | undefined>): Record<string, unknown> => {
  const e = config.engine
  const secret = (v: string | undefined) => (v === undefined || v === "" ? null : "(set)")
  const masterKey = config.masterKey ?? (env.INFERLINE_MASTER_KEY || undefined)
  return {
    model: config.modelDir ?? null,
    ...(config.modelDir === null
      ? {}
      : {
        "served-model-name": e.servedModelName ?? servedNameOf(config.modelDir),
        "max-model-len": e.maxModelLen ?? modelMaxLen(config.modelDir),
        "block-size": e.blockSize ?? 16,
        "max-num-seqs": e.maxNumSeqs ?? 128,
        "max-num-batched-tokens": e.maxNumBatchedTokens ?? 2048,
        "kv-cache-memory": e.kvCacheMemoryBytes ?? DEFAULT_KV_CACHE_MEMORY,
        "max-waiting-requests": e.maxWaitingRequests ?? 1024,
        "scheduling-policy": e.schedulingPolicy ?? "fcfs",
        "enable-prefix-caching": e.enablePrefixCaching ?? true,
        "speculative-config": e.speculative == null ? null : {
          method: e.speculative.method,
          num_speculative_tokens: e.speculative.numSpeculativeTokens,
          prompt_lookup_min: e.speculative.promptLookupMin,
          prompt_lookup_max: e.speculative.promptLookupMax,
          disable_by_batch_size: e.speculative.disableByBatchSize
        },
        ...kvTransferKeys(e.kvTransfer ?? null)
      }),
    host: config.host ?? "127.0.0.1",
    port: config.port,
    "max-request-body-size": config.maxRequestBodyBytes,
    "header-timeout": config.headerTimeoutSeconds,
    "disable-log-requests": !config.logRequests,
    "log-format": config.logFormat,
    "shutdown-grace": config.shutdownGraceSeconds,
    "master-key": secret(masterKey),
    "public-metrics": config.publicMetrics,
    "cors-allow-origins": config.corsAllowOrigins,
    services: {
      database: env.DATABASE_URL ? redactUrl(env.DATABASE_URL) : `embedded PGlite in ${path.resolve(env.INFERLINE_DATA_DIR || "./.inferline/pgdata")}`,
      redis: env.REDIS_URL ? redactUrl(env.REDIS_URL) : null,
      "ledger-journal": path.resolve(env.INFERLINE_LEDGER_DIR || "./.inferline/ledger")
    },
    model_list: config.router.deployments.map((d) => ({
      id: d.id,
      model_name: d.group,
      provider: d.provider,
      model: d.model,
      api_base: d.apiBase,
      api_key: secret(d.apiKey),
      rpm: d.rpm ?? null,
      tpm: d.tpm ?? null,
      max_parallel_requests: d.maxParallelRequests ?? null,
      timeout: d.timeoutMs / 1000
    })),
    router_settings: {
      routing_strategy: config.router.settings.strategy,
      num_retries: config.router.settings.numRetries,
      allowed_fails: config.router.settings.allowedFails,
      cooldown_time: config.router.settings.cooldownMs / 1000
    }
  }
}

/** A connection URL without its password. */
const redactUrl = (url: string): string => {
  try {
    const u = new URL(url)
    if (u.password !== "") u.password = "***"
    return u.toString()
  } catch {
    return "(not a URL)"
  }
}
