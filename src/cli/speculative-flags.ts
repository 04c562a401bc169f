import * as path from "node:path"
import { parseSpeculativeConfig, type SpeculativeConfig } from "../engine/spec-decode/config.ts"

/** The serve options that configure speculative decoding (vLLM's names; the separate flags override --speculative-config's keys). */
export const SPECULATIVE_OPTIONS = [
  { name: "speculative-config", kind: "string", value: "JSON", help: "Speculative decoding as vLLM configures it, e.g. '{\"method\":\"ngram\",\"num_speculative_tokens\":4,\"prompt_lookup_max\":4}' (default: off)." },
  { name: "speculative-method", kind: "choice", value: "ngram|draft_model", choices: ["ngram", "draft_model"], help: "Speculative decoding method: ngram (prompt lookup: drafts copied from earlier in the sequence) or draft_model (default with --speculative-model)." },
  { name: "speculative-model", kind: "string", value: "DIR", help: "Draft model directory (same tokenizer as the model), e.g. models/inferline-kjv-draft: its greedy continuation is the draft." },
  { name: "num-speculative-tokens", kind: "count", value: "K", help: "Draft tokens proposed and verified per step." },
  { name: "prompt-lookup-min", kind: "count", value: "N", help: "Shortest suffix n-gram matched (default: prompt-lookup-max, or 5)." },
  { name: "prompt-lookup-max", kind: "count", value: "N", help: "Longest suffix n-gram matched, tried first (default: prompt-lookup-min, or 5)." },
  { name: "speculative-disable-by-batch-size", kind: "count", value: "N", help: "No drafts while more than N sequences run (default 2)." }
] as const

/**
 * The engine's speculative config from the resolved option values; null (off) when none is set.
 * Throws Error naming the option at fault.
 */
export const resolveSpeculative = (get: <T>(name: string) => T | undefined, cwd: string): SpeculativeConfig | null => {
  const json = get<string>("speculative-config")
  let raw: Record<string, unknown> = {}
  if (json !== undefined) {
    try {
      raw = JSON.parse(json) as Record<string, unknown>
    } catch (e) {
      throw new Error(`--speculative-config: not valid JSON: ${(e as Error).message}`)
    }
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new Error("--speculative-config: expected a JSON object")
  }
  const flags: Array<[string, string]> = [
    ["speculative-method", "method"],
    ["speculative-model", "model"],
    ["num-speculative-tokens", "num_speculative_tokens"],
    ["prompt-lookup-min", "prompt_lookup_min"],
    ["prompt-lookup-max", "prompt_lookup_max"],
    ["speculative-disable-by-batch-size", "disable_by_batch_size"]
  ]
  const merged: Record<string, unknown> = { ...raw }
  for (const [flag, key] of flags) {
    const v = get<unknown>(flag)
    if (v !== undefined) merged[key] = v
  }
  if (Object.keys(merged).length === 0) return null
  try {
    const c = parseSpeculativeConfig(merged)
    return c.model === undefined ? c : { ...c, model: path.resolve(cwd, c.model) }
  } catch (e) {
    throw new Error(`speculative decoding (--speculative-config / --speculative-method / --num-speculative-tokens): ${(e as Error).message}`)
  }
}
