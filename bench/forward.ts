/**
 * Forward-pass baseline: prefill and decode tokens/s at batch 1, 8 and 32, on the bundled model and on a
 * random SmolLM2-135M-shaped model, with the GFLOP/s reached next to the machine's measured peak.
 *
 *   npm run bench:forward               # both models, 3 repeats
 *   node bench/forward.ts --repeats 5 --models bundled
 *
 * Run it on an otherwise idle machine. Writes bench/results/forward-*.json.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import type { ModelConfig } from "../src/engine/config.ts"
import { referenceKernels, type Kernels } from "../src/engine/kernels.ts"
import { PagedKvCache } from "../src/engine/kv-cache.ts"
import { loadModelDir, makeKernels, type KernelBackend } from "../src/engine/model-dir.ts"
import { CausalLM } from "../src/engine/model.ts"
import type { WeightDtype } from "../src/engine/matrix.ts"
import { castWeights, randomConfig, randomWeights, weightsFor } from "../test/support/random-model.ts"
import { argmax, PagedSequence, runStep } from "../test/support/paged-sequence.ts"
import { machineInfo, stats, writeResult } from "./lib/report.ts"

const { values: args } = parseArgs({
  options: {
    repeats: { type: "string", default: "3" },
    models: { type: "string", default: "bundled,smollm2-135m" },
    batches: { type: "string", default: "1,8,32" },
    kernels: { type: "string", default: "simd,reference" },
    // The random SmolLM2-shaped weights, as a checkpoint of this precision would be kept.
    dtype: { type: "string", default: "bfloat16" }
  }
})
const repeats = Number(args.repeats)
const batches = args.batches!.split(",").map(Number)

/** FLOPs of one token through the layers at a given context length (matmuls + attention), without lm_head. */
const tokenFlops = (c: ModelConfig, context: number): number => {
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim, H = c.hiddenSize
  const perLayer = 2 * (H * qDim + 2 * H * kvDim + qDim * H + 3 * H * c.intermediateSize) + 4 * context * qDim
  return c.numLayers * perLayer
}
const lmHeadFlops = (c: ModelConfig) => 2 * c.hiddenSize * c.vocabSize

/**
 * The machine's measured ceiling for a kernel backend: its matmul on cache-resident operands
 * (32 rows x 256 x 256), where memory bandwidth does not limit it.
 */
const matmulPeakGflops = (kernels: Kernels): number => {
  const rows = 32, n = 256
  // Filled in place: a mapped copy would live outside the backend's arena.
  const x = kernels.alloc(rows * n), w = kernels.alloc(n * n), out = kernels.alloc(rows * n)
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i)
  for (let i = 0; i < w.length; i++) w[i] = Math.cos(i)
  let best = 0
  for (let rep = 0; rep < 7; rep++) {
    const iters = 40
    const t0 = performance.now()
    for (let it = 0; it < iters; it++) kernels.matmul(out, x, w, rows, n, n, null)
    best = Math.max(best, (iters * 2 * rows * n * n) / ((performance.now() - t0) / 1000) / 1e9)
  }
  return best
}

/** Clock from /proc/cpuinfo (os.cpus() reports 0 MHz on some VMs). */
const cpuMhz = (): number => {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))
    if (m) return Number(m[1])
  } catch {}
  return os.cpus()[0]?.speed ?? 0
}

interface Measured { tokensPerSecond: ReturnType<typeof stats>; gflops: ReturnType<typeof stats> }

const measureModel = (name: string, model: CausalLM, promptLen: number, decodeSteps: number) => {
  const c = model.config
  const blockSize = 16
  const maxBatch = Math.max(...batches)
  const blocksPerSeq = Math.ceil((promptLen + decodeSteps + 1) / blockSize)
  const results: Record<string, { prefill: Measured; decode: Measured }> = {}
  for (const batch of batches) {
    const prefillTps: Array<number> = [], prefillGf: Array<number> = [], decodeTps: Array<number> = [], decodeGf: Array<number> = []
    for (let r = 0; r < repeats; r++) {
      const cache = new PagedKvCache(c, { numBlocks: maxBatch * blocksPerSeq, blockSize, dtype: "f32" }, model.kernels.arena?.matrices)
      const free = Array.from({ length: cache.numBlocks }, (_, i) => i)
      const seqs = Array.from({ length: batch }, () => new PagedSequence(cache, free))
      const prompts = seqs.map((_, s) => Array.from({ length: promptLen }, (_, i) => (s * 131 + i * 17) % c.vocabSize))
      let t0 = performance.now()
      const first = runStep(model, cache, seqs.map((s, i) => s.chunk(prompts[i])))
      let secs = (performance.now() - t0) / 1000
      let flops = 0
      for (let p = 0; p < promptLen; p++) flops += tokenFlops(c, p + 1) * batch
      flops += lmHeadFlops(c) * batch
      prefillTps.push((batch * promptLen) / secs)
      prefillGf.push(flops / secs / 1e9)

      let next = first.map((rows) => argmax(rows[0]))
      flops = 0
      t0 = performance.now()
      for (let step = 0; step < decodeSteps; step++) {
        const out = runStep(model, cache, seqs.map((s, i) => s.chunk([next[i]])))
        next = out.map((rows) => argmax(rows[0]))
        flops += (tokenFlops(c, promptLen + step + 1) + lmHeadFlops(c)) * batch
      }
      secs = (performance.now() - t0) / 1000
      decodeTps.push((batch * decodeSteps) / secs)
      decodeGf.push(flops / secs / 1e9)
    }
    results[`batch${batch}`] = {
      prefill: { tokensPerSecond: stats(prefillTps), gflops: stats(prefillGf) },
      decode: { tokensPerSecond: stats(decodeTps), gflops: stats(decodeGf) }
    }
    const d = results[`batch${batch}`]
    console.log(`${name} batch ${batch}: prefill ${d.prefill.tokensPerSecond.median.toFixed(1)} tok/s (${d.prefill.gflops.median.toFixed(2)} GFLOP/s), decode ${d.decode.tokensPerSecond.median.toFixed(1)} tok/s (${d.decode.gflops.median.toFixed(2)} GFLOP/s)`)
  }
  return { promptLen, decodeSteps, blockSize, config: c, results }
}

const machine = machineInfo()
const mhz = cpuMhz()
// AVX2 + FMA: 2 FMA units x 8 f32 lanes x 2 FLOP per cycle.
const theoreticalAvx2PerCore = (mhz * 1e6 * 32) / 1e9
const backends = args.kernels!.split(",") as Array<KernelBackend>
const peaks: Record<string, number> = {}
for (const b of backends) peaks[b] = matmulPeakGflops(makeKernels(b))
console.log(`machine: ${machine.cpu}, ${machine.cores} cores; matmul peak ${backends.map((b) => `${b} ${peaks[b].toFixed(2)}`).join(", ")} GFLOP/s; AVX2 theoretical ${theoreticalAvx2PerCore.toFixed(1)} GFLOP/s/core`)

const models: Record<string, Record<string, unknown>> = {}
for (const name of args.models!.split(",")) {
  models[name] = {}
  for (const backend of backends) {
    const label = `${name} [${backend}]`
    if (name === "bundled") {
      const loaded = loadModelDir(path.join(import.meta.dirname, "..", "models", "inferline-kjv"), { backend })
      models[name][backend] = { parameters: loaded.parameters, ...measureModel(label, loaded.model, 64, 16) }
    } else if (name === "smollm2-135m") {
      const config = randomConfig({
        vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
        num_attention_heads: 9, num_key_value_heads: 3, tie_word_embeddings: true, rope_theta: 100000
      })
      const kernels = makeKernels(backend)
      models[name][backend] = measureModel(label, new CausalLM(config, weightsFor(kernels, castWeights(randomWeights(config, 1), args.dtype as WeightDtype)), kernels), 16, 3)
    } else throw new Error(`unknown model ${name}`)
  }
}

const file = writeResult("forward", {
  bench: "forward",
  machine,
  anchor: {
    matmulPeakGflops: peaks,
    cpuMhz: mhz,
    theoreticalAvx2FmaGflopsPerCore: theoreticalAvx2PerCore,
    note: "one thread; the reference kernels (plain TS, f64 accumulation) are the baseline the SIMD kernels are judged against"
  },
  repeats,
  smollm2Weights: args.dtype,
  models
})
console.log(`wrote ${file}`)
