/**
 * Resident memory of `inferline serve` once the model is loaded, through the real CLI, against issue 17's
 * bound (RSS after load <= 1.3 x the safetensors bytes + the KV pool; see bench/lib/memory.ts): the
 * random SmolLM2-135M-shaped checkpoint of bench/vs-llamacpp.ts, served with the same flags, next to the
 * bundled 4M-parameter model served the same way (what the server costs without weights worth the name).
 * Each with the embedded PGlite and, when DATABASE_URL is set, with that Postgres instead.
 *
 *   node bench/memory-after-load.ts [--dtype BF16|F16|F32] [--kv-cache-memory 512MiB] [--serve-args="--tensor-parallel-size 2"]
 *
 * Loads only (no requests): about a minute. Writes bench/results/memory-after-load-*.json.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { servedUrl, spawnServe } from "../test/support/cli-process.ts"
import type { Dtype } from "../test/support/write-checkpoint.ts"
import { settledMemoryAfterLoad } from "../test/support/process-memory.ts"
import { machineInfo, writeResult } from "./lib/report.ts"
import { writeSmolLm2Checkpoint } from "./lib/smollm2.ts"

const { values: args } = parseArgs({
  options: {
    dtype: { type: "string", default: "BF16" },
    "kv-cache-memory": { type: "string", default: "512MiB" },
    "serve-args": { type: "string", default: "" }
  }
})
const BUNDLED = path.join(import.meta.dirname, "..", "models", "inferline-kjv")
const MiB = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`

/** Serves `dir` (vs-llamacpp's flags) and reads its memory once loaded (see settledMemoryAfterLoad). */
const measure = async (dir: string, env: Record<string, string | undefined>, more: ReadonlyArray<string> = []) => {
  const extra = [...args["serve-args"]!.split(/\s+/).filter(Boolean), ...more]
  const serve = spawnServe([dir, "--port", "0", "--served-model-name", "bench", "--max-num-seqs", "16", "--no-enable-prefix-caching",
    "--disable-log-requests", "--kv-cache-memory", args["kv-cache-memory"]!, ...extra], env)
  try {
    await servedUrl(serve, 600_000)
    const memory = await settledMemoryAfterLoad(serve.child.pid!, dir, serve.output)
    const threads = Number(/tensor parallel: (\d+) thread/.exec(serve.output())?.[1] ?? 1)
    return { ...memory, tensorParallelSize: threads }
  } finally {
    serve.child.kill("SIGTERM")
    await serve.exited
  }
}

const main = async () => {
  const { dir } = writeSmolLm2Checkpoint(args.dtype as Dtype)
  const databases: Record<string, Record<string, string | undefined>> = { embedded: { DATABASE_URL: undefined } }
  if ((process.env.DATABASE_URL ?? "") !== "") databases.postgres = { DATABASE_URL: process.env.DATABASE_URL }
  const runs: Record<string, unknown> = {}
  try {
    for (const [database, env] of Object.entries(databases)) {
      const smol = await measure(dir, env)
      // As many threads as the SmolLM2 server ran (the bundled model's default is 1): only the weights differ.
      const bundled = await measure(BUNDLED, env, ["--tensor-parallel-size", String(smol.tensorParallelSize)])
      // What the weights add to a server, per byte of checkpoint (1.0 = each weight byte resident once).
      const weightsResidentPerCheckpointByte = (smol.rssAfterLoadBytes - bundled.rssAfterLoadBytes) / (smol.checkpointBytes - bundled.checkpointBytes)
      runs[database] = { smollm2: smol, bundled, weightsResidentPerCheckpointByte }
      console.log(`${database}: SmolLM2-135M shape RSS ${MiB(smol.rssAfterLoadBytes)} (bound ${MiB(smol.boundBytes)}: 1.3 x ${MiB(smol.checkpointBytes)} + KV pool ${MiB(smol.kvPoolBytes)}; ` +
        `${smol.withinBound ? "within" : "OVER"}), peak ${MiB(smol.peakRssBytes)}; bundled model ${MiB(bundled.rssAfterLoadBytes)}; ` +
        `resident per checkpoint byte ${weightsResidentPerCheckpointByte.toFixed(2)}`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const file = writeResult("memory-after-load", {
    bench: "memory-after-load", machine: machineInfo(), weights: args.dtype, kvCacheMemory: args["kv-cache-memory"], serveArgs: args["serve-args"], runs
  })
  console.log(`wrote ${file}`)
}

await main()
