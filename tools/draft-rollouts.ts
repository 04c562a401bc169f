/**
 * The target model's greedy continuations of many prompts, for distilling the draft model
 * (tools/distill_draft.py): what the draft must predict during speculative decoding is the target's own
 * greedy output, so it learns on it. Batched through the engine core in process (plain decoding).
 *
 *   node tools/draft-rollouts.ts PROMPTS.json OUT.json [--model models/inferline-kjv] [--tokens 128]
 *
 * PROMPTS.json: an array of token-id arrays; OUT.json: the same prompts each followed by its continuation.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { EngineCore } from "../src/engine/engine-core.ts"
import { PagedKvCache } from "../src/engine/kv-cache.ts"
import { loadModelDir } from "../src/engine/model-dir.ts"
import { defaultSamplingParams } from "../src/engine/sampling-params.ts"
import { defaultSchedulerConfig } from "../src/engine/scheduler.ts"

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string", default: path.join(import.meta.dirname, "..", "models", "inferline-kjv") },
    tokens: { type: "string", default: "128" },
    batch: { type: "string", default: "32" }
  }
})
const [promptsFile, outFile] = positionals
if (promptsFile === undefined || outFile === undefined) throw new Error("usage: node tools/draft-rollouts.ts PROMPTS.json OUT.json [--model DIR] [--tokens N]")
const prompts = JSON.parse(fs.readFileSync(promptsFile, "utf8")) as Array<Array<number>>
const n = Number(args.tokens), batch = Number(args.batch)
const loaded = loadModelDir(args.model!)
const longest = Math.max(...prompts.map((p) => p.length)) + n
const blocks = batch * (Math.ceil(longest / 16) + 1) + 2
const cache = new PagedKvCache(loaded.config, { numBlocks: blocks, blockSize: 16, dtype: "f32" }, loaded.model.kernels.arena?.pools)
const executor = { vocabSize: loaded.config.vocabSize, execute: (b: Parameters<typeof loaded.model.forward>[0]) => loaded.model.forward(b, cache) }

const out: Array<Array<number>> = []
const started = performance.now()
for (let first = 0; first < prompts.length; first += batch) {
  // A fresh core per batch: no prefix cache carried between batches, every continuation plain greedy.
  const core = new EngineCore({ vocabSize: loaded.config.vocabSize, blockSize: 16, numBlocks: blocks, enablePrefixCaching: false, eosTokenIds: [], tokenizer: null, scheduler: { ...defaultSchedulerConfig(loaded.config.maxPositionEmbeddings), maxNumSeqs: batch } })
  const ids = prompts.slice(first, first + batch).map((_, i) => `r${first + i}`)
  const made = new Map(ids.map((id) => [id, [] as Array<number>]))
  ids.forEach((id, i) => core.add({ id, promptTokenIds: prompts[first + i], params: defaultSamplingParams({ temperature: 0, maxTokens: n, ignoreEos: true }) }))
  while (ids.some((id) => core.has(id))) for (const o of core.step(executor, 0)) made.get(o.requestId)!.push(...o.tokenIds)
  ids.forEach((id, i) => out.push([...prompts[first + i], ...made.get(id)!]))
  process.stdout.write(`\r${out.length}/${prompts.length} rollouts, ${((out.length * n) / ((performance.now() - started) / 1000)).toFixed(0)} tok/s`)
}
fs.writeFileSync(outFile, JSON.stringify(out))
console.log(`\nwrote ${outFile}`)
