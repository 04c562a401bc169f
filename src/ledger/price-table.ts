import * as fs from "node:fs"
import { Yaml } from "effect/encoding"

/** Prices per million tokens. Cached input tokens are billed at `cached_input` instead of `input`. */
export interface Price {
  readonly input: number
  readonly cached_input: number
  readonly output: number
}

/** Local models cost nothing unless configured: the default price. */
export const FREE: Price = { input: 0, cached_input: 0, output: 0 }

/**
 * Prices by deployment id, falling back to the model group, then to `default` (itself 0 unless set).
 * Configured as JSON or YAML (`INFERLINE_PRICE_TABLE`: a file path, or inline JSON):
 * `{ "deployments": { "openai-gpt4o": { "input": 2.5, "cached_input": 1.25, "output": 10 } },
 *    "models": { "gpt-4o": { ... } }, "default": { ... } }`.
 */
export interface PriceTable {
  readonly deployments: Readonly<Record<string, Price>>
  readonly models: Readonly<Record<string, Price>>
  readonly default: Price
}

export const emptyPriceTable: PriceTable = { deployments: {}, models: {}, default: FREE }

export const priceFor = (table: PriceTable, deployment: string, modelGroup: string): Price =>
  table.deployments[deployment] ?? table.models[modelGroup] ?? table.default

/** Cost of one request; input tokens include the cached ones, which are billed at the cached price. */
export const costOf = (price: Price, usage: { readonly inputTokens: number; readonly cachedInputTokens: number; readonly outputTokens: number }): number => {
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens)
  return ((usage.inputTokens - cached) * price.input + cached * price.cached_input + usage.outputTokens * price.output) / 1_000_000
}

const toPrice = (where: string, raw: unknown): Price => {
  if (typeof raw !== "object" || raw === null) throw new Error(`${where}: expected { input, cached_input, output }`)
  const o = raw as Record<string, unknown>
  const num = (k: string, fallback: number) => {
    const v = o[k] ?? fallback
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`${where}.${k}: expected a non-negative number`)
    return v
  }
  const input = num("input", 0)
  return { input, cached_input: num("cached_input", input), output: num("output", 0) }
}

const toPrices = (where: string, raw: unknown): Record<string, Price> =>
  Object.fromEntries(Object.entries((raw ?? {}) as Record<string, unknown>).map(([k, v]) => [k, toPrice(`${where}.${k}`, v)]))

/** Checks a parsed configuration (throws with the offending field's path). */
export const parsePriceTable = (raw: unknown): PriceTable => {
  if (typeof raw !== "object" || raw === null) throw new Error("price table: expected a mapping")
  const o = raw as Record<string, unknown>
  return { deployments: toPrices("deployments", o.deployments), models: toPrices("models", o.models), default: o.default === undefined ? FREE : toPrice("default", o.default) }
}

/** `INFERLINE_PRICE_TABLE`: inline JSON (starts with `{`) or a JSON/YAML file; unset: everything free. */
export const priceTableFromEnv = (value: string | undefined = process.env.INFERLINE_PRICE_TABLE): PriceTable => {
  if (value === undefined || value.trim() === "") return emptyPriceTable
  const text = value.trim().startsWith("{") ? value : fs.readFileSync(value, "utf8")
  return parsePriceTable(value.trim().startsWith("{") || value.endsWith(".json") ? JSON.parse(text) : Yaml.parse(text))
}
