/**
 * Disaggregated prefill/decode against colocated serving (issue 21), measured in the same run,
 * configurations alternating so machine load hits both alike:
 * - colocated: one `inferline serve` pinned to cores 0,1 (taskset);
 * - disaggregated: `--kv-role prefill` pinned to core 0, `--kv-role decode` pinned to core 1; this
 *   script plays the router (prefill with do_remote_decode, then the decode stream with do_remote_prefill).
 * Workload: --streams greedy streams decode (long max_tokens); once they all produce, --long prompts of
 * --long-tokens tokens arrive --gap-ms apart. Reported: the streams' inter-token latency (p50/p99) while
 * the long prompts arrive, the long requests' TTFT and time to their second token, and the KV transfer's
 * throughput (bytes exported over the decode side's fetch seconds) from /metrics.
 *
 *   node bench/disaggregation.ts [--streams 16] [--long 8] [--long-tokens 600] [--gap-ms 250] [--decode-tokens 300] [--repeats 1]
 *
 * Writes bench/results/disaggregation-*.json (with the load average: on a loaded machine numbers are indicative).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { loadModelDir } from "../src/engine/model-dir.ts"
import { machineInfo, writeResult } from "./lib/report.ts"
import { freePort } from "../test/support/free-port.ts"

const { values: args } = parseArgs({
  options: {
    streams: { type: "string", default: "16" },
    long: { type: "string", default: "8" },
    "long-tokens": { type: "string", default: "600" },
    "gap-ms": { type: "string", default: "250" },
    "decode-tokens": { type: "string", default: "300" },
    repeats: { type: "string", default: "1" },
    model: { type: "string", default: path.join(import.meta.dirname, "..", "models", "inferline-kjv") }
  }
})
const STREAMS = Number(args.streams), LONG = Number(args.long), LONG_TOKENS = Number(args["long-tokens"])
const GAP_MS = Number(args["gap-ms"]), DECODE_TOKENS = Number(args["decode-tokens"]), REPEATS = Number(args.repeats)
const BIN = path.join(import.meta.dirname, "..", "bin", "inferline.js")
const tok = loadModelDir(args.model!).tokenizer!

const VERSE = "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness. "
/** A prompt of exactly n tokens (ids, so its length does not depend on the tokenizer's merges across repeats). */
const promptOf = (n: number, salt: number): Array<number> => {
  const base = tok.encode(VERSE.repeat(Math.ceil(n / 20) + 1))
  // A distinct first token per request: no prefix-cache hit between the long prompts.
  return [3 + (salt % 1000), ...base.slice(0, n - 1)]
}

interface Server { readonly child: ChildProcess; readonly url: string }

/** `inferline serve` pinned to `cores`, with its own data and journal directories; resolves once it listens. */
const serve = (cores: string, extra: ReadonlyArray<string>): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = spawn("taskset", ["-c", cores, process.execPath, BIN, "serve", args.model!, "--port", "0", "--served-model-name", "kjv", "--max-model-len", "2048", "--disable-log-requests", ...extra], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, INFERLINE_MASTER_KEY: "", INFERLINE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "bench-disagg-db-")), INFERLINE_LEDGER_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "bench-disagg-ledger-")) }
    })
    let out = ""
    const onData = (d: Buffer) => {
      out += d
      const m = /Serving model '[^']+' at (http:\/\/\S+)/.exec(out)
      if (m !== null) resolve({ child, url: m[1] })
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)))
  })

const stop = async (s: Server) => {
  s.child.kill("SIGTERM")
  await new Promise((r) => s.child.once("exit", r))
}


const post = (url: string, body: unknown) => fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

/** Reads an SSE completion stream; calls `onToken(now)` for each chunk that carries text. */
const readStream = async (r: Response, onToken: (t: number) => void) => {
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`)
  const decoder = new TextDecoder()
  let buf = ""
  for await (const chunk of r.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true })
    let i
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, i)
      buf = buf.slice(i + 2)
      const data = event.replace(/^data: /, "")
      if (data === "[DONE]") continue
      const c = JSON.parse(data) as { choices: Array<{ text?: string }> }
      if ((c.choices[0]?.text ?? "") !== "") onToken(performance.now())
    }
  }
}

/** How a configuration runs one request: token times (the first is the first token's) as they come. */
type Runner = (prompt: ReadonlyArray<number>, maxTokens: number, onToken: (t: number) => void) => Promise<void>

const colocatedRunner = (url: string): Runner => async (prompt, maxTokens, onToken) => {
  await readStream(await post(url, { model: "kjv", prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true }), onToken)
}

/** The router's part: the prefill server's answer is the first token; the decode server streams the rest. */
const disaggregatedRunner = (prefillUrl: string, decodeUrl: string): Runner => async (prompt, maxTokens, onToken) => {
  const body = { model: "kjv", prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true }
  const first = await post(prefillUrl, { ...body, kv_transfer_params: { do_remote_decode: true } })
  const json = (await first.json()) as { kv_transfer_params?: { transfer_id: string } }
  onToken(performance.now())
  await readStream(await post(decodeUrl, { ...body, stream: true, kv_transfer_params: { do_remote_prefill: true, transfer_id: json.kv_transfer_params!.transfer_id } }), onToken)
}

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const round = (x: number) => Math.round(x * 100) / 100

/** One run of the workload on one configuration. */
const workload = async (run: Runner) => {
  const gaps: Array<{ at: number; gap: number }> = []
  let producing = 0
  let allProducing: () => void = () => {}
  const ready = new Promise<void>((r) => (allProducing = r))
  const streams = Array.from({ length: STREAMS }, (_, i) => {
    let last = -1, count = 0
    return run(promptOf(24, 5000 + i), DECODE_TOKENS, (t) => {
      if (last >= 0) gaps.push({ at: t, gap: t - last })
      last = t
      if (++count === 5 && ++producing === STREAMS) allProducing()
    })
  })
  await ready
  const phaseStart = performance.now()
  const longs: Array<{ ttft: number; second: number }> = []
  await Promise.all(Array.from({ length: LONG }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * GAP_MS))
    const sent = performance.now()
    const times: Array<number> = []
    await run(promptOf(LONG_TOKENS, i + 1 + Math.floor(Math.random() * 100_000)), 16, (t) => times.push(t))
    longs.push({ ttft: times[0] - sent, second: times[1] - times[0] })
  }))
  const phaseEnd = performance.now()
  await Promise.all(streams)
  const during = gaps.filter((g) => g.at >= phaseStart && g.at <= phaseEnd).map((g) => g.gap)
  return {
    itlDuringMs: { p50: round(quantile(during, 0.5)), p99: round(quantile(during, 0.99)), max: round(Math.max(...during)), n: during.length },
    ttftMs: { p50: round(quantile(longs.map((l) => l.ttft), 0.5)), p99: round(quantile(longs.map((l) => l.ttft), 0.99)) },
    secondTokenMs: { p50: round(quantile(longs.map((l) => l.second), 0.5)), p99: round(quantile(longs.map((l) => l.second), 0.99)) }
  }
}

const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)
  return m === null ? 0 : Number(m[1])
}

const results: Array<unknown> = []
for (let rep = 0; rep < REPEATS; rep++) {
  const colocated = await serve("0,1", [])
  results.push({ config: "colocated", rep, ...(await workload(colocatedRunner(colocated.url))) })
  await stop(colocated)

  const kvPort = await freePort()
  const prefill = await serve("0", ["--kv-role", "prefill", "--kv-transfer-port", String(kvPort)])
  const decode = await serve("1", ["--kv-role", "decode", "--kv-peer", `127.0.0.1:${kvPort}`])
  const r = await workload(disaggregatedRunner(prefill.url, decode.url))
  const bytes = await metric(prefill.url, "inferline_kv_transfer_exported_bytes_total")
  const seconds = await metric(decode.url, "inferline_kv_transfer_fetch_seconds_total")
  const fetches = await metric(decode.url, "inferline_kv_transfer_fetches_total")
  results.push({ config: "disaggregated", rep, ...r, kvTransfer: { fetches, megabytes: round(bytes / 2 ** 20), mbPerSecond: round(bytes / 2 ** 20 / seconds), msPerFetch: round((seconds * 1000) / fetches) } })
  await Promise.all([stop(prefill), stop(decode)])
}

console.table(results.map((r) => {
  const x = r as { config: string; rep: number; itlDuringMs: { p50: number; p99: number }; ttftMs: { p50: number; p99: number }; secondTokenMs: { p50: number }; kvTransfer?: { mbPerSecond: number; msPerFetch: number } }
  return { config: x.config, rep: x.rep, "ITL p50": x.itlDuringMs.p50, "ITL p99": x.itlDuringMs.p99, "TTFT p50": x.ttftMs.p50, "TTFT p99": x.ttftMs.p99, "2nd token p50": x.secondTokenMs.p50, "KV MB/s": x.kvTransfer?.mbPerSecond ?? "", "ms/fetch": x.kvTransfer?.msPerFetch ?? "" }
}))
console.log(writeResult("disaggregation", { machine: machineInfo(), settings: { STREAMS, LONG, LONG_TOKENS, GAP_MS, DECODE_TOKENS }, results }))
