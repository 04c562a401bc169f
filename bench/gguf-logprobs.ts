/**
 * How far prompt log-probs on each GGUF type are from the float64 reference on the same dequantized
 * weights (test/fixtures/gguf/*.json, tools/make_gguf_goldens.py), for Inferline and for llama.cpp
 * (node-llama-cpp 3.21.1, CPU, 1 thread, full distribution through controlledEvaluate), plus each file's
 * size and Inferline's load time (dequantizing to f32). Accuracy, not speed: llama.cpp's CPU dot products
 * quantize the activations (Q8_0 / Q8_K) and keep K/V in f16, Inferline computes in f32.
 *
 *   node bench/gguf-logprobs.ts [--models inferline-kjv,smollm2-shaped]
 *
 * Needs /usr/bin/python3 with NumPy (the GGUF files are written by tools/hf_to_gguf.py). Writes
 * bench/results/gguf-logprobs-*.json.
 */
import * as fs from "node:fs"
import { parseArgs } from "node:util"
import { loadModelDir } from "../src/engine/model-dir.ts"
import { convertToGguf, ggufGolden, smollm2ShapedCheckpoint, type GgufGoldenCase } from "../test/support/gguf.ts"
import { promptLogprobs } from "../test/support/gguf-parity.ts"
import { loadLlamaCppModel } from "../test/support/llama-cpp.ts"
import { bundledModelDir } from "../test/support/models.ts"
import { machineInfo, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({ options: { models: { type: "string", default: "inferline-kjv,smollm2-shaped" } } })

interface Deviation { readonly max: number; readonly mean: number; readonly tokens: number }

const deviation = (pairs: ReadonlyArray<readonly [number, number]>): Deviation => {
  let max = 0, sum = 0
  for (const [a, b] of pairs) {
    const d = Math.abs(a - b)
    max = Math.max(max, d)
    sum += d
  }
  return { max, mean: sum / pairs.length, tokens: pairs.length }
}

const llamaCppLogprobs = async (file: string, vocabSize: number, cases: ReadonlyArray<GgufGoldenCase>): Promise<Array<readonly [number, number]>> => {
  const model = await loadLlamaCppModel(file)
  const ctx = await model.createContext({ contextSize: 512, threads: 1 })
  const seq = ctx.getSequence()
  // the whole distribution: no top-k / top-p / min-p truncation, temperature 1
  const all = { temperature: 1, topK: vocabSize, topP: 1, minP: 0 }
  const pairs: Array<readonly [number, number]> = []
  try {
    for (const c of cases) {
      await seq.clearHistory()
      const ids = c.input_ids
      const input = ids.map((t, i) => (i + 1 < ids.length ? [t, { generateNext: { probabilities: true, options: all } }] : t))
      const out = await seq.controlledEvaluate(input as Parameters<typeof seq.controlledEvaluate>[0])
      for (let i = 0; i + 1 < ids.length; i++) {
        const p = out[i]?.next?.probabilities?.get(ids[i + 1] as never)
        if (p === undefined) throw new Error(`llama.cpp gave no probability for token ${ids[i + 1]} at ${c.name}[${i}]`)
        pairs.push([Math.log(p), c.token_logprobs[i]])
      }
    }
  } finally {
    await ctx.dispose()
    await model.dispose()
  }
  return pairs
}

const rows: Array<Record<string, unknown>> = []
for (const name of args.models!.split(",")) {
  const golden = ggufGolden(name)
  const dir = name === "inferline-kjv" ? bundledModelDir : smollm2ShapedCheckpoint(golden.generator!.split(" ").slice(1))
  for (const [type, want] of Object.entries(golden.types)) {
    const file = convertToGguf(dir, type)
    const started = performance.now()
    const m = loadModelDir(file)
    const loadMs = performance.now() - started
    const ours = want.cases.flatMap((c) => promptLogprobs(m, c.input_ids).tokens.map((v, i) => [v, c.token_logprobs[i]] as const))
    // llama.cpp cannot run a file without a tokenizer (the random checkpoint has none).
    const llama = m.tokenizer === null ? null : deviation(await llamaCppLogprobs(file, m.config.vocabSize, want.cases))
    const row = { model: name, type, fileBytes: fs.statSync(file).size, inferlineLoadMs: Math.round(loadMs), inferline: deviation(ours), llamaCpp: llama }
    rows.push(row)
    console.log(`${name} ${type}: |dlogprob| max Inferline ${row.inferline.max.toExponential(2)}, llama.cpp ${llama?.max.toExponential(2) ?? "-"} (${row.inferline.tokens} tokens); ${(row.fileBytes / 2 ** 20).toFixed(1)} MiB, loaded in ${row.inferlineLoadMs} ms`)
  }
}
console.log(`wrote ${writeResult("gguf-logprobs", { machine: machineInfo(), reference: "tools/llama_torch.py float64 on the dequantized GGUF weights", rows })}`)
