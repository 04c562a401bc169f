/**
 * The semantic cache's matcher (embedder + threshold + guard) on the labelled pairs of
 * test/fixtures/semantic-cache-pairs.json: the threshold curve (false-hit rate over the pairs that must
 * miss, paraphrase hit rate over those that must hit), the threshold it picks, the same picked on one
 * half of the pairs and measured on the other, then the embedder's time per query and the index's
 * lookup time at 1k and 10k entries. Writes bench/results/semantic-cache-<embedder>-*.json.
 *
 *   node bench/semantic-cache.ts                                   # the built-in embedder
 *   node bench/semantic-cache.ts --api-base http://host/v1 --model text-embedding-3-small [--api-key KEY]
 *
 * The pick (see pickThreshold): false-hit rate at most half the acceptance bound (0.5% of 1%), so that
 * one more false hit on similar text stays within it, and the highest threshold within 5 points of the
 * best paraphrase hit rate.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { cosine, type Embedder } from "../src/cache/semantic/embedder.ts"
import { sameMeaningGuard } from "../src/cache/semantic/same-meaning-guard.ts"
import { SemanticIndex } from "../src/cache/semantic/semantic-index.ts"
import { DEFAULT_SEMANTIC_THRESHOLD } from "../src/cache/semantic/semantic-matcher.ts"
import { makeSifEmbedder } from "../src/cache/semantic/sif-embedder.ts"
import { makeDeploymentEmbedder } from "../src/router/deployment-embedder.ts"
import { makeUpstreamPool } from "../src/router/providers/upstream-http.ts"
import { machineInfo, writeResult } from "./lib/report.ts"

export interface LabelledPair {
  readonly a: string
  readonly b: string
  readonly label: "hit" | "miss"
  readonly category: string
}

export const PAIRS_FILE = path.join(import.meta.dirname, "..", "test", "fixtures", "semantic-cache-pairs.json")
export const loadPairs = (): ReadonlyArray<LabelledPair> => (JSON.parse(fs.readFileSync(PAIRS_FILE, "utf8")) as { pairs: Array<LabelledPair> }).pairs

export interface ScoredPair extends LabelledPair {
  readonly similarity: number
  readonly guardPasses: boolean
}

/** Each pair's similarity under the embedder and the guard's verdict. */
export const scorePairs = (embedder: Embedder, pairs: ReadonlyArray<LabelledPair>) =>
  Effect.gen(function*() {
    const texts = [...new Set(pairs.flatMap((p) => [p.a, p.b]))]
    const vectors = new Map<string, Float32Array>()
    for (let i = 0; i < texts.length; i += 64) {
      const batch = texts.slice(i, i + 64)
      const embedded = yield* embedder.embed(batch)
      batch.forEach((t, j) => vectors.set(t, embedded[j]))
    }
    return pairs.map((p): ScoredPair => ({ ...p, similarity: cosine(vectors.get(p.a)!, vectors.get(p.b)!), guardPasses: sameMeaningGuard(p.a, p.b).same }))
  })

export interface Rates {
  readonly threshold: number
  readonly falseHitRate: number
  readonly paraphraseHitRate: number
  readonly falseHits: number
  readonly paraphraseHits: number
}

/** The matcher's rates at a threshold (a pair matches when similarity >= threshold and the guard passes). */
export const ratesAt = (scored: ReadonlyArray<ScoredPair>, threshold: number, useGuard = true): Rates => {
  const matches = (p: ScoredPair) => p.similarity >= threshold && (!useGuard || p.guardPasses)
  const hits = scored.filter((p) => p.label === "hit"), misses = scored.filter((p) => p.label === "miss")
  const paraphraseHits = hits.filter(matches).length, falseHits = misses.filter(matches).length
  return { threshold, falseHitRate: falseHits / misses.length, paraphraseHitRate: paraphraseHits / hits.length, falseHits, paraphraseHits }
}

export const THRESHOLDS = Array.from({ length: 50 }, (_, i) => Math.round((0.5 + i * 0.01) * 100) / 100)
export const MAX_FALSE_HIT_RATE = 0.01

/**
 * Among thresholds whose false-hit rate is at most half the bound, the highest whose paraphrase hit rate
 * is within 5 points of the best of them: the guard does most of the rejecting, and a threshold kept
 * high is the defence when it misses a difference.
 */
export const pickThreshold = (curve: ReadonlyArray<Rates>): Rates | undefined => {
  const safe = curve.filter((r) => r.falseHitRate <= MAX_FALSE_HIT_RATE / 2)
  if (safe.length === 0) return undefined
  const best = Math.max(...safe.map((r) => r.paraphraseHitRate))
  return safe.filter((r) => r.paraphraseHitRate >= best - 0.05).reduce((a, b) => (b.threshold > a.threshold ? b : a))
}

const percentile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/** ms per call of `f`, median and p99 over `runs` calls after `runs / 10` warm-up calls. */
const timeCalls = (runs: number, f: (i: number) => void) => {
  for (let i = 0; i < runs / 10; i++) f(i)
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    f(i)
    times.push(performance.now() - t)
  }
  return { medianMs: percentile(times, 0.5), p99Ms: percentile(times, 0.99), runs }
}

/** Lookup time of the in-process index holding `entries` vectors (real query vectors, reused round-robin) in one partition. */
const indexLatency = (vectors: ReadonlyArray<Float32Array>, entries: number, threshold: number) => {
  const index = new SemanticIndex(vectors[0].length, entries)
  for (let i = 0; i < entries; i++) {
    // Perturbed copies of real vectors, so that the scan and the top-k insertion see realistic scores.
    const v = Float32Array.from(vectors[i % vectors.length], (x, d) => x + 0.01 * Math.sin(i * 7 + d))
    index.add({ id: `e${i}`, partition: "p", text: "", vector: v })
  }
  return { entries, memoryMiB: (entries * vectors[0].length * 4) / 2 ** 20, ...timeCalls(2000, (i) => index.nearest("p", vectors[i % vectors.length], 4, threshold)) }
}

const embedderOf = (args: { "api-base"?: string; model?: string; "api-key"?: string }): { embedder: Embedder; close: () => void } => {
  if (args["api-base"] === undefined) return { embedder: makeSifEmbedder(), close: () => {} }
  if (args.model === undefined) throw new Error("--model is required with --api-base")
  const pool = makeUpstreamPool(8)
  const headers: Record<string, string> = args["api-key"] === undefined ? {} : { authorization: `Bearer ${args["api-key"]}` }
  return { embedder: makeDeploymentEmbedder({ id: "bench", apiBase: args["api-base"].replace(/\/+$/, ""), model: args.model, headers, pool, timeoutMs: 60_000 }), close: pool.close }
}

const main = Effect.gen(function*() {
  const { values: args } = parseArgs({ options: { "api-base": { type: "string" }, model: { type: "string" }, "api-key": { type: "string" } } })
  const { embedder, close } = embedderOf(args)
  const pairs = loadPairs()
  const scored = yield* scorePairs(embedder, pairs)
  const curve = THRESHOLDS.map((t) => ratesAt(scored, t))
  const picked = pickThreshold(curve)
  const embeddingOnly = THRESHOLDS.map((t) => ratesAt(scored, t, false))
  // Picked on the even pairs, measured on the odd ones, and the other way round.
  const halves = [0, 1].map((h) => {
    const fit = scored.filter((_, i) => i % 2 === h), held = scored.filter((_, i) => i % 2 !== h)
    const t = pickThreshold(THRESHOLDS.map((x) => ratesAt(fit, x)))
    return { pickedOn: h === 0 ? "even" : "odd", threshold: t?.threshold, heldOut: t === undefined ? undefined : ratesAt(held, t.threshold) }
  })
  const builtin = args["api-base"] === undefined
  const atDefault = builtin ? ratesAt(scored, DEFAULT_SEMANTIC_THRESHOLD) : undefined
  const falseHitsAt = (t: number) => scored.filter((p) => p.label === "miss" && p.similarity >= t && p.guardPasses).map((p) => ({ a: p.a, b: p.b, category: p.category, similarity: p.similarity }))
  const categories = [...new Set(pairs.map((p) => p.category))].map((c) => {
    const inCategory = scored.filter((p) => p.category === c)
    return { category: c, pairs: inCategory.length, guardRejects: inCategory.filter((p) => !p.guardPasses).length }
  })
  // Timing: the embedder per single query, the index at 1k and 10k entries, a whole lookup's guard.
  const texts = [...new Set(pairs.flatMap((p) => [p.a, p.b]))]
  const vectors = texts.map((t) => scored.length > 0 ? Effect.runSync(Effect.orDie(embedder.embed([t])))[0] : new Float32Array(0))
  const embedTiming = builtin ? timeCalls(2000, (i) => Effect.runSync(embedder.embed([texts[i % texts.length]]))) : undefined
  const guardTiming = timeCalls(2000, (i) => sameMeaningGuard(pairs[i % pairs.length].a, pairs[i % pairs.length].b))
  const index = [1000, 10_000].map((n) => indexLatency(vectors, n, picked?.threshold ?? DEFAULT_SEMANTIC_THRESHOLD))
  close()

  console.log(`embedder ${embedder.id}, ${pairs.length} pairs (${scored.filter((p) => p.label === "hit").length} must hit, ${scored.filter((p) => p.label === "miss").length} must miss)`)
  console.log("threshold  false-hit  paraphrase-hit   (embedding only: false-hit  paraphrase-hit)")
  curve.forEach((r, i) => {
    if (i % 5 === 0 || r === picked) console.log(`${r.threshold.toFixed(2)}       ${(100 * r.falseHitRate).toFixed(2)}%      ${(100 * r.paraphraseHitRate).toFixed(1)}%            ${(100 * embeddingOnly[i].falseHitRate).toFixed(1)}%       ${(100 * embeddingOnly[i].paraphraseHitRate).toFixed(1)}%${r === picked ? "   <- picked" : ""}`)
  })
  if (atDefault !== undefined) console.log(`default threshold ${DEFAULT_SEMANTIC_THRESHOLD}: false-hit ${(100 * atDefault.falseHitRate).toFixed(2)}%, paraphrase hit ${(100 * atDefault.paraphraseHitRate).toFixed(1)}%`)
  for (const h of halves) console.log(`picked on the ${h.pickedOn} pairs: ${h.threshold}, on the others: false-hit ${h.heldOut === undefined ? "-" : (100 * h.heldOut.falseHitRate).toFixed(2)}%, paraphrase hit ${h.heldOut === undefined ? "-" : (100 * h.heldOut.paraphraseHitRate).toFixed(1)}%`)
  if (embedTiming !== undefined) console.log(`embedding one query: median ${(1000 * embedTiming.medianMs).toFixed(1)} µs, p99 ${(1000 * embedTiming.p99Ms).toFixed(1)} µs`)
  console.log(`guard on one pair: median ${(1000 * guardTiming.medianMs).toFixed(1)} µs, p99 ${(1000 * guardTiming.p99Ms).toFixed(1)} µs`)
  for (const r of index) console.log(`index lookup at ${r.entries} entries (${r.memoryMiB.toFixed(1)} MiB of vectors): median ${(1000 * r.medianMs).toFixed(1)} µs, p99 ${(1000 * r.p99Ms).toFixed(1)} µs`)

  const file = writeResult(`semantic-cache-${builtin ? "builtin" : "deployment"}`, {
    bench: "semantic-cache",
    machine: machineInfo(),
    embedder: embedder.id,
    pairs: { file: path.relative(path.join(import.meta.dirname, ".."), PAIRS_FILE), total: pairs.length, categories },
    rule: "picked: the highest threshold with false-hit rate <= 0.5% and paraphrase hit rate within 5 points of the best such; acceptance: false-hit <= 1%, paraphrase hit >= 60%",
    picked,
    defaultThreshold: atDefault,
    falseHitsAtPicked: picked === undefined ? [] : falseHitsAt(picked.threshold),
    halves,
    curve,
    embeddingOnlyCurve: embeddingOnly,
    timing: { embedOneQuery: embedTiming, guardOnePair: guardTiming, index }
  })
  console.log(`wrote ${file}`)
})

if (import.meta.main) Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
