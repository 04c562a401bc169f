import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "../support/cli-process.ts"
import { metricValue, scrapeMetrics } from "./support/server.ts"
import { freePort } from "../support/free-port.ts"

// Disaggregated prefill/decode as the README runs it: `inferline serve --kv-role prefill` and
// `inferline serve --kv-role decode --kv-peer ...` as two processes, the official SDK driving both halves
// the way a disaggregating router does (prefill with do_remote_decode, decode with do_remote_prefill).
// The first token's text from the prefill server plus the decode server's text equal the colocated answer.
// Then a gateway whose router config has a `disaggregated/` deployment (the two servers) and its own model
// as the colocated fallback: the same answers through the router, and the fallback when the decode side dies.
const VERSE = "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep."

const servers: Array<ServeProcess> = []
let prefill: OpenAI, decode: OpenAI, gateway: OpenAI, prefillUrl = "", decodeUrl = "", gatewayUrl = ""
let decodeServer: ServeProcess


beforeAll(async () => {
  const kvPort = await freePort()
  const common = ["--port", "0", "--served-model-name", "kjv", "--max-model-len", "512", "--kv-cache-memory", "16MiB"]
  const p = spawnServe([...common, "--kv-role", "prefill", "--kv-transfer-port", String(kvPort)], { INFERLINE_MASTER_KEY: "" })
  const d = spawnServe([...common, "--kv-role", "decode", "--kv-peer", `127.0.0.1:${kvPort}`], { INFERLINE_MASTER_KEY: "" })
  servers.push(p, d)
  decodeServer = d
  ;[prefillUrl, decodeUrl] = await Promise.all([servedUrl(p, 120_000), servedUrl(d, 120_000)])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-disagg-"))
  const config = path.join(dir, "router.json")
  fs.writeFileSync(config, JSON.stringify({
    model_list: [
      { model_name: "kjv", litellm_params: { model: "disaggregated/kjv", prefill_api_base: `${prefillUrl}/v1`, api_base: `${decodeUrl}/v1`, order: 1 }, model_info: { id: "split" } },
      { model_name: "kjv", litellm_params: { model: "local/kjv", order: 2 }, model_info: { id: "colocated" } }
    ],
    router_settings: { num_retries: 1, retry_after: 0.01 }
  }))
  const g = spawnServe([...common, "--config", config], { INFERLINE_MASTER_KEY: "" })
  servers.push(g)
  gatewayUrl = await servedUrl(g, 120_000)
  gateway = new OpenAI({ apiKey: "unused", baseURL: `${gatewayUrl}/v1` })
  expect(p.output()).toContain(`KV role prefill (KV transfer on 127.0.0.1:${kvPort})`)
  expect(d.output()).toContain(`KV role decode (KV from 127.0.0.1:${kvPort})`)
  prefill = new OpenAI({ apiKey: "unused", baseURL: `${prefillUrl}/v1` })
  decode = new OpenAI({ apiKey: "unused", baseURL: `${decodeUrl}/v1` })
}, 180_000)

afterAll(async () => {
  for (const s of servers) s.child.kill("SIGTERM")
  await Promise.all(servers.map((s) => s.exited))
})

type Body = Omit<OpenAI.CompletionCreateParamsNonStreaming, "model" | "prompt">
interface KvAnswer { readonly kv_transfer_params?: { readonly transfer_id: string } }

/** The prefill half: one JSON answer with the first token's text and the transfer id. */
const prefillHalf = async (prompt: string, body: Body) => {
  const r = (await prefill.completions.create({ model: "kjv", prompt, ...body, kv_transfer_params: { do_remote_decode: true } } as OpenAI.CompletionCreateParamsNonStreaming)) as OpenAI.Completion & KvAnswer
  return { text: r.choices[0].text, finishReason: r.choices[0].finish_reason, transferId: r.kv_transfer_params?.transfer_id }
}

/** prefill then decode (streamed): the whole answer's text and the decode side's usage. */
const disaggregated = async (prompt: string, body: Body) => {
  const first = await prefillHalf(prompt, body)
  expect(first.finishReason).toBe("length")
  expect(first.transferId).toMatch(/^kv-/)
  const stream = await decode.completions.create({
    model: "kjv", prompt, ...body, stream: true, stream_options: { include_usage: true },
    kv_transfer_params: { do_remote_prefill: true, transfer_id: first.transferId }
  } as OpenAI.CompletionCreateParamsStreaming)
  let text = first.text
  let usage: OpenAI.CompletionUsage | undefined
  for await (const c of stream) {
    text += c.choices[0]?.text ?? ""
    usage = c.usage ?? usage
  }
  return { text, usage }
}

/** The colocated answer: the prefill server is a whole engine too, serving a request without kv_transfer_params. */
const colocatedAnswer = (prompt: string, body: Body) => prefill.completions.create({ model: "kjv", prompt, ...body })
const colocated = async (prompt: string, body: Body) => (await colocatedAnswer(prompt, body)).choices[0].text

const kvUsage = async (url: string) => metricValue(await scrapeMetrics(url), "inferline_kv_cache_usage_perc")

describe("disaggregated prefill/decode: two serve processes, the openai SDK as client", () => {
  it("greedy and seeded completions equal the colocated ones, usage counts every token, blocks are freed on both sides", async () => {
    const cases: Array<{ prompt: string; body: Body }> = [
      { prompt: VERSE, body: { max_tokens: 40, temperature: 0 } },
      { prompt: VERSE.slice(0, 50), body: { max_tokens: 24, temperature: 0 } },
      { prompt: VERSE, body: { max_tokens: 32, temperature: 0.8, seed: 11 } },
      { prompt: VERSE.slice(20), body: { max_tokens: 30, temperature: 1, top_p: 0.9, seed: 3, frequency_penalty: 0.5 } }
    ]
    // Concurrently, as a router would send them.
    const got = await Promise.all(cases.map((c) => disaggregated(c.prompt, c.body)))
    for (let i = 0; i < cases.length; i++) {
      const want = await colocatedAnswer(cases[i].prompt, cases[i].body)
      expect(got[i].text, `case ${i}`).toBe(want.choices[0].text)
      expect(got[i].usage?.completion_tokens, `case ${i}`).toBe(want.usage?.completion_tokens)
    }
    await waitFor("no KV block in use on either side", async () => (await kvUsage(prefillUrl)) === 0 && (await kvUsage(decodeUrl)) === 0)
    const [pm, dm] = await Promise.all([scrapeMetrics(prefillUrl), scrapeMetrics(decodeUrl)])
    expect(metricValue(pm, "inferline_kv_transfer_exports_total")).toBe(cases.length)
    expect(metricValue(dm, "inferline_kv_transfer_fetches_total")).toBe(cases.length)
    expect(metricValue(dm, "inferline_kv_transfer_imports_total")).toBe(cases.length)
    expect(metricValue(dm, "inferline_kv_transfer_fetch_seconds_total")).toBeGreaterThan(0)
    // Every byte exported was fetched; written, except the blocks the decode server's prefix cache had.
    const blockBytes = 2 * 4 * 16 * 128 * 4
    expect(metricValue(dm, "inferline_kv_transfer_imported_bytes_total")! + metricValue(dm, "inferline_kv_transfer_reused_blocks_total")! * blockBytes).toBe(metricValue(pm, "inferline_kv_transfer_exported_bytes_total"))
  }, 120_000)

  it("chat completions too", async () => {
    const body = { model: "kjv", messages: [{ role: "user" as const, content: "Who created the heaven and the earth?" }], max_tokens: 30, temperature: 0 }
    const first = (await prefill.chat.completions.create({ ...body, kv_transfer_params: { do_remote_decode: true } } as OpenAI.ChatCompletionCreateParamsNonStreaming)) as OpenAI.ChatCompletion & KvAnswer
    const rest = await decode.chat.completions.create({ ...body, kv_transfer_params: { do_remote_prefill: true, transfer_id: first.kv_transfer_params!.transfer_id } } as OpenAI.ChatCompletionCreateParamsNonStreaming)
    const whole = await prefill.chat.completions.create(body)
    expect(first.choices[0].message.content! + rest.choices[0].message.content!).toBe(whole.choices[0].message.content)
    expect(rest.usage?.completion_tokens).toBe(whole.usage?.completion_tokens)
  }, 60_000)

  it("a decode stream the client abandons frees its blocks", async () => {
    const first = await prefillHalf(VERSE, { max_tokens: 400, temperature: 0, ignore_eos: true } as Body)
    const controller = new AbortController()
    const stream = await decode.completions.create({
      model: "kjv", prompt: VERSE, max_tokens: 400, temperature: 0, ignore_eos: true, stream: true,
      kv_transfer_params: { do_remote_prefill: true, transfer_id: first.transferId }
    } as OpenAI.CompletionCreateParamsStreaming, { signal: controller.signal })
    let chunks = 0
    try {
      for await (const _ of stream) if (++chunks === 3) controller.abort()
    } catch {
      // the abort ends the iteration
    }
    expect(chunks).toBe(3)
    await waitFor("the aborted sequence's blocks back in the decode server's pool", async () => (await kvUsage(decodeUrl)) === 0)
    expect(await kvUsage(prefillUrl)).toBe(0)
  }, 60_000)

  it("an unknown or already fetched transfer is a 400 naming it; the roles refuse the other side's part", async () => {
    const first = await prefillHalf(VERSE, { max_tokens: 8, temperature: 0 })
    const decodeWith = (transferId: string) =>
      decode.completions.create({ model: "kjv", prompt: VERSE, max_tokens: 8, temperature: 0, kv_transfer_params: { do_remote_prefill: true, transfer_id: transferId } } as OpenAI.CompletionCreateParamsNonStreaming)
    await decodeWith(first.transferId!)
    const again = await decodeWith(first.transferId!).catch((e: unknown) => e)
    expect(again).toBeInstanceOf(OpenAI.BadRequestError)
    expect((again as Error).message).toContain(`no KV transfer "${first.transferId}" is pending`)
    const unknown = await decodeWith("kv-nope").catch((e: unknown) => e)
    expect((unknown as Error).message).toContain(`no KV transfer "kv-nope" is pending`)
    const wrongSide = await decode.completions.create({ model: "kjv", prompt: VERSE, max_tokens: 8, kv_transfer_params: { do_remote_decode: true } } as OpenAI.CompletionCreateParamsNonStreaming).catch((e: unknown) => e)
    expect((wrongSide as Error).message).toContain("do_remote_decode needs a prefill server")
    const streamed = await prefill.completions.create({ model: "kjv", prompt: VERSE, max_tokens: 8, stream: true, kv_transfer_params: { do_remote_decode: true } } as OpenAI.CompletionCreateParamsStreaming).catch((e: unknown) => e)
    expect(streamed).toBeInstanceOf(OpenAI.BadRequestError)
    expect((streamed as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("stream")
  }, 60_000)

  it("through the router: a disaggregated deployment answers (streamed or not) exactly as colocated, and an abandoned stream frees both sides' blocks", async () => {
    const body = { model: "kjv", prompt: VERSE, max_tokens: 30, temperature: 0.7, seed: 5 }
    const wanted = await colocatedAnswer(VERSE, { max_tokens: 30, temperature: 0.7, seed: 5 })
    const want = wanted.choices[0].text
    const whole = await gateway.completions.create(body).withResponse()
    expect(whole.response.headers.get("x-inferline-deployment")).toBe("split")
    expect(whole.data.choices[0].text).toBe(want)
    expect(whole.data.usage?.completion_tokens).toBe(wanted.usage?.completion_tokens)
    const stream = await gateway.completions.create({ ...body, stream: true })
    let text = ""
    for await (const c of stream) text += c.choices[0]?.text ?? ""
    expect(text).toBe(want)
    const chatBody = { model: "kjv", messages: [{ role: "user" as const, content: "Who created the heaven and the earth?" }], max_tokens: 24, temperature: 0 }
    const chatStream = await gateway.chat.completions.create({ ...chatBody, stream: true })
    let content = ""
    for await (const c of chatStream) content += c.choices[0]?.delta.content ?? ""
    expect(content).toBe((await prefill.chat.completions.create(chatBody)).choices[0].message.content)
    // The first token ends it (max_tokens 1): the prefill server's answer is the whole answer, streamed or not.
    const one = { model: "kjv", prompt: VERSE, max_tokens: 1, temperature: 0 }
    const oneWant = await colocated(VERSE, { max_tokens: 1, temperature: 0 })
    expect((await gateway.completions.create(one)).choices[0].text).toBe(oneWant)
    let oneText = "", oneFinish: string | null = null
    for await (const c of await gateway.completions.create({ ...one, stream: true })) {
      oneText += c.choices[0]?.text ?? ""
      oneFinish = c.choices[0]?.finish_reason ?? oneFinish
    }
    expect(oneText).toBe(oneWant)
    expect(oneFinish).toBe("length")
    // n > 1 is not split: the decode server serves it whole.
    expect((await gateway.completions.create({ ...body, n: 2 })).choices).toHaveLength(2)

    const controller = new AbortController()
    const long = await gateway.completions.create({ model: "kjv", prompt: VERSE, max_tokens: 400, temperature: 0, ignore_eos: true, stream: true } as OpenAI.CompletionCreateParamsStreaming, { signal: controller.signal })
    let chunks = 0
    try {
      for await (const _ of long) if (++chunks === 4) controller.abort()
    } catch {
      // the abort ends the iteration
    }
    await waitFor("both servers' blocks free after the client left the router", async () => (await kvUsage(decodeUrl)) === 0 && (await kvUsage(prefillUrl)) === 0)
  }, 120_000)

  it("through the router: with the decode server down, the request falls back to the colocated deployment", async () => {
    decodeServer.child.kill("SIGKILL")
    await decodeServer.exited
    const body = { model: "kjv", prompt: VERSE.slice(0, 60), max_tokens: 20, temperature: 0 }
    const r = await gateway.completions.create(body).withResponse()
    expect(r.response.headers.get("x-inferline-deployment")).toBe("colocated")
    expect(r.data.choices[0].text).toBe(await colocated(body.prompt, { max_tokens: 20, temperature: 0 }))
  }, 60_000)
})
