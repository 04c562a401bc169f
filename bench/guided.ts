/**
 * Cost of guided decoding (issue 19): 16 concurrent streams on the SmolLM2-135M shape (vocabulary
 * 49,152; 30 layers, hidden 576; random weights, so what it writes is noise) through the Engine service
 * (actor loop + worker executor), with a json_schema constraint versus the same run unconstrained: same
 * prompts, seeds, temperature 1 and token counts, so the ratio of tokens/s is the mask's cost. Also
 * reported: the first request's compile time (the vocabulary trie, once per model; the grammar, once per
 * schema) and the per-step mask time on the engine's event-loop thread, cold (first request of a schema)
 * and warm (cached), from replaying the generated tokens through a fresh matcher.
 *
 * The tokenizer: no real SmolLM2 tokenizer is available offline, so tools/bpe_bench_vocab.py trains a
 * 49,152-token GPT-2-style byte-level BPE (the same kind and size) on the KJV, Python's standard library
 * sources and /usr/share/doc text (prose and code, as SmolLM2's corpus); it is built into
 * bench/cache/bpe-49k on first use (about two minutes). The bundled model's tokenizer_config.json (same
 * special tokens and chat template) goes with it.
 *
 * Runs alternate in ABBA order (unconstrained first in even repeats, constrained first in odd ones), so a
 * machine getting busier or quieter during the bench does not favour one side. The mask's share of a
 * step is also estimated without that noise: the replayed per-step mask time of all streams over the
 * constrained run's mean step time.
 *
 *   node bench/guided.ts [--repeats 4] [--tokens 64] [--streams 16]
 *
 * Writes bench/results/guided-*.json. Run it on an otherwise idle machine; the JSON has the load average.
 */
import { Effect, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Engine } from "../src/actors/engine.ts"
import { CompiledGrammar } from "../src/engine/guided/compiled-grammar.ts"
import { GuidedSequence } from "../src/engine/guided/guided-sequence.ts"
import { specGrammar, type GuidedSpec } from "../src/engine/guided/guided-spec.ts"
import { TokenVocabulary } from "../src/engine/guided/vocabulary.ts"
import { makeKernels, type LoadedModel } from "../src/engine/model-dir.ts"
import { CausalLM } from "../src/engine/model.ts"
import { defaultSamplingParams } from "../src/engine/sampling-params.ts"
import { TextTokenizer } from "../src/engine/tokenizer.ts"
import { parameterCount } from "../src/engine/weights.ts"
import { makeEngineFromModel } from "../src/layers/engine.ts"
import { randomConfig, randomWeights, weightsFor } from "../test/support/random-model.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({
  options: {
    repeats: { type: "string", default: "4" },
    tokens: { type: "string", default: "64" },
    streams: { type: "string", default: "16" }
  }
})
const repeats = Number(args.repeats), NEW = Number(args.tokens), STREAMS = Number(args.streams)
const root = path.join(import.meta.dirname, "..")

// --- the 49,152-token tokenizer ---------------------------------------------------------------------
const vocabDir = path.join(root, "bench", "cache", "bpe-49k")
if (!fs.existsSync(path.join(vocabDir, "tokenizer.json"))) {
  console.log("training the 49,152-token byte-level BPE (tools/bpe_bench_vocab.py, a few minutes)...")
  execFileSync("python3", [path.join(root, "tools", "bpe_bench_vocab.py"), vocabDir], { stdio: "inherit" })
}
fs.copyFileSync(path.join(root, "models", "inferline-kjv", "tokenizer_config.json"), path.join(vocabDir, "tokenizer_config.json"))
const tokenizer = TextTokenizer.fromDir(vocabDir)

// --- the SmolLM2-135M-shaped model ------------------------------------------------------------------
const config = randomConfig({
  vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
  num_attention_heads: 9, num_key_value_heads: 3, tie_word_embeddings: true, rope_theta: 100000, max_position_embeddings: 2048
})
const kernels = makeKernels()
const weights = weightsFor(kernels, randomWeights(config, 1))
const loaded: LoadedModel = {
  dir: vocabDir,
  config,
  model: new CausalLM(config, weights, kernels),
  tokenizer,
  generation: { eosTokenIds: [0, 2] },
  parameters: parameterCount(weights),
  loadMs: 0
}

// A realistic extraction schema that cannot complete within the run (minItems), so that both runs
// generate exactly NEW tokens per stream and the batch stays the same size throughout.
const SCHEMA = {
  type: "object",
  properties: {
    order_id: { type: "string", format: "uuid" },
    items: {
      type: "array",
      minItems: 40,
      items: {
        type: "object",
        properties: { name: { type: "string", maxLength: 24 }, qty: { type: "integer", minimum: 1, maximum: 999 }, price: { type: "number", minimum: 0, maximum: 10000 }, note: { type: ["string", "null"], maxLength: 40 } },
        required: ["name", "qty", "price", "note"],
        additionalProperties: false
      }
    }
  },
  required: ["order_id", "items"],
  additionalProperties: false
}
const SPEC: GuidedSpec = { kind: "json_schema", schema: SCHEMA }

const prompts = Array.from({ length: STREAMS }, (_, i) =>
  tokenizer.encode(tokenizer.applyChatTemplate([{ role: "user", content: `Order number ${i}: list what was bought, as JSON.` }]), false))

const firstRequest = (() => {
  const t0 = performance.now()
  const vocab = new TokenVocabulary(config.vocabSize, tokenizer.tokenBytes(config.vocabSize))
  const vocabularyMs = performance.now() - t0
  const grammar = new CompiledGrammar(specGrammar(SPEC), vocab)
  return { vocab, vocabularyMs, grammarCompileMs: grammar.compileMs, trieNodes: vocab.numNodes, grammarStates: grammar.grammar.numStates }
})()
console.log(`first request: vocabulary trie ${firstRequest.vocabularyMs.toFixed(1)} ms (${firstRequest.trieNodes} nodes), grammar compile ${firstRequest.grammarCompileMs.toFixed(1)} ms (${firstRequest.grammarStates} states)`)

/** One run: STREAMS requests at once, NEW tokens each; tokens/s and seconds over the wall time, and the tokens. */
const run = (guided: CompiledGrammar | null, repeat: number) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(makeEngineFromModel(loaded, { maxNumSeqs: STREAMS, enablePrefixCaching: false, servedModelName: "smollm2-135m-random" }), (engine: Engine["Service"]) =>
    Effect.gen(function*() {
      const t0 = performance.now()
      const outputs = yield* Effect.forEach(prompts, (prompt, i) =>
        engine.generate({ promptTokenIds: prompt, params: defaultSamplingParams({ temperature: 1, seed: 1000 * repeat + i, maxTokens: NEW, ignoreEos: true, guided }) }).pipe(
          Stream.runFold(() => [] as Array<number>, (acc, d) => (acc.push(...d.tokenIds), acc))
        ), { concurrency: "unbounded" })
      const secs = (performance.now() - t0) / 1000
      if (outputs.some((o) => o.length !== NEW)) throw new Error(`expected ${NEW} tokens per stream, got ${outputs.map((o) => o.length)}`)
      return { tokensPerSecond: (STREAMS * NEW) / secs, secs, outputs }
    }))))

const percentile = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]

/** Per-step mask time replaying `outputs` through fresh matchers of `grammar` (cold: its first use). */
const maskTimes = (grammar: CompiledGrammar, outputs: ReadonlyArray<ReadonlyArray<number>>) => {
  const times: Array<number> = []
  for (const tokens of outputs) {
    const seq = new GuidedSequence(grammar)
    for (const t of tokens) {
      const t0 = performance.now()
      seq.allowedTokens()
      times.push(performance.now() - t0)
      if (!seq.accept(t)) throw new Error("a generated token is not allowed by the grammar")
    }
  }
  return { steps: times.length, meanMs: times.reduce((a, b) => a + b, 0) / times.length, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99), maxMs: Math.max(...times), totalMs: times.reduce((a, b) => a + b, 0) }
}

const unconstrained: Array<number> = [], constrained: Array<number> = [], constrainedSecs: Array<number> = []
let lastOutputs: ReadonlyArray<ReadonlyArray<number>> = []
for (let r = 0; r < repeats; r++) {
  // A fresh grammar per repeat: every constrained run pays its own cold masks, as a first request would.
  const grammar = new CompiledGrammar(specGrammar(SPEC), firstRequest.vocab)
  let free, guided
  if (r % 2 === 0) {
    free = await run(null, r)
    guided = await run(grammar, r)
  } else {
    guided = await run(grammar, r)
    free = await run(null, r)
  }
  unconstrained.push(free.tokensPerSecond)
  constrained.push(guided.tokensPerSecond)
  constrainedSecs.push(guided.secs)
  lastOutputs = guided.outputs
  console.log(`repeat ${r}: unconstrained ${free.tokensPerSecond.toFixed(1)} tok/s, json_schema ${guided.tokensPerSecond.toFixed(1)} tok/s (ratio ${(guided.tokensPerSecond / free.tokensPerSecond).toFixed(3)})`)
}
const replayGrammar = new CompiledGrammar(specGrammar(SPEC), firstRequest.vocab)
const cold = maskTimes(replayGrammar, lastOutputs)
const warm = maskTimes(replayGrammar, lastOutputs)
console.log(`mask per step: cold mean ${cold.meanMs.toFixed(3)} ms (p99 ${cold.p99Ms.toFixed(3)}, max ${cold.maxMs.toFixed(1)}), warm mean ${warm.meanMs.toFixed(4)} ms (p99 ${warm.p99Ms.toFixed(4)})`)
const sample = new TextDecoder().decode(Buffer.concat(lastOutputs[0].map((id) => Buffer.from(firstRequest.vocab.tokenBytes[id] ?? new Uint8Array()))))
console.log(`sample (stream 0): ${sample}`)

const ratios = unconstrained.map((u, i) => constrained[i] / u)
// Every stream's mask per step runs on the one event-loop thread: its share of a constrained step.
const stepMs = (stats(constrainedSecs).median * 1000) / NEW
const maskShare = { cold: (cold.meanMs * STREAMS) / stepMs, warm: (warm.meanMs * STREAMS) / stepMs, stepMs }
console.log(`step ${stepMs.toFixed(1)} ms; masks of ${STREAMS} streams per step: cold ${(maskShare.cold * 100).toFixed(2)}%, warm ${(maskShare.warm * 100).toFixed(3)}% of it`)
const file = writeResult("guided", {
  bench: "guided",
  machine: machineInfo(),
  model: { shape: "SmolLM2-135M (random weights)", parameters: loaded.parameters, vocabSize: config.vocabSize, tokenizer: "49,152-token byte-level BPE from tools/bpe_bench_vocab.py" },
  streams: STREAMS,
  tokensPerStream: NEW,
  repeats,
  schema: SCHEMA,
  anchor: { unconstrainedTokensPerSecond: stats(unconstrained), note: "the same run without a grammar, measured in the same process, alternating with the constrained runs" },
  jsonSchemaTokensPerSecond: stats(constrained),
  ratio: stats(ratios),
  firstRequest: { vocabularyTrieMs: firstRequest.vocabularyMs, grammarCompileMs: firstRequest.grammarCompileMs, trieNodes: firstRequest.trieNodes, grammarStates: firstRequest.grammarStates },
  maskPerStep: { cold, warm, note: "allowedTokens() on the event-loop thread, replaying the last constrained run's tokens; cold = a fresh grammar's first pass (its token analyses), warm = the second pass (cached masks)" },
  maskShareOfStep: { ...maskShare, note: "STREAMS x mean mask time per step / the constrained runs' median step time (wall time / tokens per stream)" },
  sample
})
console.log(`ratio median ${stats(ratios).median.toFixed(3)}; wrote ${file}`)
