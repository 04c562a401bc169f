import * as os from "node:os"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, type ServeProcess } from "../support/cli-process.ts"
import { prng } from "../support/random-model.ts"
import { draftModelDir } from "../support/models.ts"
import { metricValue, scrapeMetrics } from "./support/server.ts"

// Speculative decoding as the README runs it: `inferline serve --speculative-method ngram ...`, the
// official SDK, a mixed workload (concurrent streams and plain requests, random lengths, aborted streams).
// Greedy outputs must equal those of a server without speculation, token for token.
const VERSES = [
  "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep.",
  "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness.",
  "The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: he leadeth me beside the still waters."
]

const servers: Array<ServeProcess> = []
let plain: OpenAI, spec: OpenAI, specUrl = "", drafted: OpenAI, draftedUrl = ""

beforeAll(async () => {
  const common = ["--port", "0", "--served-model-name", "kjv", "--max-model-len", "512", "--kv-cache-memory", "16MiB"]
  const a = spawnServe(common, { INFERLINE_MASTER_KEY: "" })
  const b = spawnServe([...common, "--speculative-method", "ngram", "--num-speculative-tokens", "4", "--prompt-lookup-min", "2", "--prompt-lookup-max", "4", "--speculative-disable-by-batch-size", "64"], { INFERLINE_MASTER_KEY: "" })
  const c = spawnServe([...common, "--speculative-model", draftModelDir, "--num-speculative-tokens", "3", "--speculative-disable-by-batch-size", "64"], { INFERLINE_MASTER_KEY: "" })
  servers.push(a, b, c)
  const [ua, ub, uc] = await Promise.all([servedUrl(a, 120_000), servedUrl(b, 120_000), servedUrl(c, 120_000)])
  expect(c.output()).toContain("speculative decoding draft_model (3 tokens")
  // The default threads are the cores (at most 4), with a draft model too; it drafts ahead only beside a free core.
  const threads = Math.min(4, os.availableParallelism())
  const ahead = threads < os.availableParallelism() ? "ahead on the free core" : "between steps (no core free to draft ahead on)"
  expect(c.output()).toContain(`tensor parallel: ${threads} thread${threads === 1 ? "" : "s"}; the draft model drafts ${ahead}`)
  drafted = new OpenAI({ apiKey: "unused", baseURL: `${uc}/v1` })
  draftedUrl = uc
  expect(b.output()).toContain("speculative decoding ngram (4 tokens, prompt lookup 2-4)")
  plain = new OpenAI({ apiKey: "unused", baseURL: `${ua}/v1` })
  spec = new OpenAI({ apiKey: "unused", baseURL: `${ub}/v1` })
  specUrl = ub
}, 180_000)

afterAll(async () => {
  for (const s of servers) s.child.kill("SIGTERM")
  await Promise.all(servers.map((s) => s.exited))
})

interface Job {
  readonly prompt: string
  readonly maxTokens: number
  readonly stream: boolean
  /** Stream only: stop reading (abort) after this many chunks. */
  readonly abortAfter: number | null
}

const run = async (client: OpenAI, job: Job): Promise<string | null> => {
  const body = { model: "kjv", prompt: job.prompt, max_tokens: job.maxTokens, temperature: 0 }
  if (!job.stream) return (await client.completions.create(body)).choices[0].text
  const controller = new AbortController()
  const stream = await client.completions.create({ ...body, stream: true }, { signal: controller.signal })
  let text = "", chunks = 0
  try {
    for await (const c of stream) {
      text += c.choices[0]?.text ?? ""
      if (job.abortAfter !== null && ++chunks >= job.abortAfter) {
        controller.abort()
        return null
      }
    }
  } catch (e) {
    if (job.abortAfter !== null) return null
    throw e
  }
  return text
}

describe("speculative decoding through the server (real process, openai SDK)", () => {
  it("greedy completions of a mixed concurrent workload equal those without speculation; /metrics counts drafts", async () => {
    const rand = prng(21)
    const jobs: Array<Job> = Array.from({ length: 16 }, (_, i) => {
      const verse = VERSES[i % VERSES.length]
      const repeats = 1 + Math.floor(rand() * 3)
      const stream = rand() < 0.5
      return {
        prompt: Array.from({ length: repeats }, () => verse).join(" ") + " " + verse.slice(0, 20 + Math.floor(rand() * 40)),
        maxTokens: 8 + Math.floor(rand() * 56),
        stream,
        abortAfter: stream && rand() < 0.3 ? 2 + Math.floor(rand() * 5) : null
      }
    })
    // Random arrivals: each job starts after a random delay, all overlapping on both servers.
    const delays = jobs.map(() => Math.floor(rand() * 300))
    const all = (client: OpenAI) => Promise.all(jobs.map((j, i) => new Promise((r) => setTimeout(r, delays[i])).then(() => run(client, j))))
    const [want, got] = await Promise.all([all(plain), all(spec)])
    let compared = 0
    jobs.forEach((j, i) => {
      if (j.abortAfter !== null) return
      expect(got[i], `job ${i}`).toBe(want[i])
      compared++
    })
    expect(compared).toBeGreaterThan(8)

    const m = await scrapeMetrics(specUrl)
    const drafts = metricValue(m, "inferline_spec_decode_num_drafts_total")!
    const draftTokens = metricValue(m, "inferline_spec_decode_num_draft_tokens_total")!
    const accepted = metricValue(m, "inferline_spec_decode_num_accepted_tokens_total")!
    expect(drafts).toBeGreaterThan(0)
    expect(accepted).toBeGreaterThan(0)
    expect(accepted).toBeLessThanOrEqual(draftTokens)
    const perPos = [0, 1, 2, 3].map((p) => metricValue(m, "inferline_spec_decode_num_accepted_tokens_per_pos_total", { position: String(p) })!)
    expect(perPos.reduce((a, b) => a + b, 0)).toBe(accepted)
    // A later draft position is only reached through the earlier ones.
    for (let p = 1; p < 4; p++) expect(perPos[p]).toBeLessThanOrEqual(perPos[p - 1])
    // A request that opts out gets the same text and verifies no drafts.
    const job: Job = { prompt: [VERSES[0], VERSES[0], VERSES[0].slice(0, 40)].join(" "), maxTokens: 32, stream: false, abortAfter: null }
    const optedOut = (await spec.completions.create({ model: "kjv", prompt: job.prompt, max_tokens: 32, temperature: 0, speculative_decoding: false } as OpenAI.CompletionCreateParamsNonStreaming)).choices[0].text
    expect(optedOut).toBe(await run(plain, job))
    expect(metricValue(await scrapeMetrics(specUrl), "inferline_spec_decode_num_drafts_total")).toBe(drafts)
    expect(await run(spec, job)).toBe(optedOut)
    expect(metricValue(await scrapeMetrics(specUrl), "inferline_spec_decode_num_drafts_total")).toBeGreaterThan(drafts)
    // The server without speculation has no spec_decode series.
    expect(await scrapeMetrics(plain.baseURL.replace(/\/v1$/, ""))).not.toContain("spec_decode")
  }, 300_000)

  it("with the bundled draft model (--speculative-model): concurrent greedy completions equal those without speculation", async () => {
    const jobs: Array<Job> = VERSES.flatMap((v, i) => [
      { prompt: v, maxTokens: 24 + 8 * i, stream: false, abortAfter: null },
      { prompt: v.slice(0, 40), maxTokens: 32, stream: true, abortAfter: null }
    ])
    const [want, got] = await Promise.all([Promise.all(jobs.map((j) => run(plain, j))), Promise.all(jobs.map((j) => run(drafted, j)))])
    expect(got).toEqual(want)
    const m = await scrapeMetrics(draftedUrl)
    expect(metricValue(m, "inferline_spec_decode_num_draft_tokens_total")).toBeGreaterThan(0)
    expect(metricValue(m, "inferline_spec_decode_num_accepted_tokens_total")).toBeGreaterThan(0)
  }, 300_000)

  it("with --tensor-parallel-size below the machine's cores the draft model drafts ahead on the free core (startup log), same tokens", async () => {
    const cores = os.availableParallelism()
    const d = spawnServe(["--port", "0", "--served-model-name", "kjv", "--max-model-len", "512", "--kv-cache-memory", "16MiB", "--speculative-model", draftModelDir, "--num-speculative-tokens", "3", "--tensor-parallel-size", "1"], { INFERLINE_MASTER_KEY: "" })
    try {
      const url = await servedUrl(d, 120_000)
      expect(d.output()).toContain(`tensor parallel: 1 thread; the draft model drafts ${cores > 1 ? "ahead on the free core" : "between steps (no core free to draft ahead on)"}`)
      const client = new OpenAI({ apiKey: "unused", baseURL: `${url}/v1` })
      const job: Job = { prompt: VERSES[1], maxTokens: 40, stream: false, abortAfter: null }
      expect(await run(client, job)).toEqual(await run(plain, job))
      expect(metricValue(await scrapeMetrics(url), "inferline_spec_decode_num_accepted_tokens_total")).toBeGreaterThan(0)
    } finally {
      d.child.kill("SIGTERM")
      await d.exited
    }
  }, 180_000)
})
