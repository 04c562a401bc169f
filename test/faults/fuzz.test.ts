/**
 * The reliability suite's fuzz run: seeded random requests over every route of a real `inferline serve`
 * (methods, paths, headers, query strings, and bodies made by mutating valid ones: fields dropped,
 * retyped, huge, negative, nested, NUL and odd Unicode, broken JSON). Every answer must come within its
 * deadline and be below 500, and the server must still be healthy afterwards with nothing logged as a
 * failure. FUZZ_SEED and FUZZ_REQUESTS pick the run (a failure prints the request to replay it).
 */
import { expect, it } from "vitest"
import { MASTER_KEY, MODEL, serveInferline } from "./support/inferline-process.ts"

const SEED = Number(process.env.FUZZ_SEED ?? 1)
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 1500)

/** mulberry32: a small seeded PRNG, so a run can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const ROUTES = [
  "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/responses", "/v1/models", "/health", "/metrics", "/tokenize", "/detokenize", "/openapi.json", "/docs",
  "/v1/ws", "/admin/keys", "/admin/keys/:id", "/admin/teams", "/admin/teams/:id", "/spend/logs", "/spend/report", "/router/deployments",
  "/ui", "/ui/data", "/ui/chart.umd.min.js", "/v1/nope", "/", "/v1/chat/completions/extra", "/admin/keys/:id/x"
]
const METHODS = ["GET", "POST", "POST", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD"]

/** Valid bodies to start from, one per kind of route; max_tokens is kept small so the engine's work stays bounded. */
const BASES: Record<string, () => Record<string, unknown>> = {
  "/v1/chat/completions": () => ({ model: MODEL, messages: [{ role: "user", content: "In the beginning" }], max_tokens: 4 }),
  "/v1/completions": () => ({ model: MODEL, prompt: "And God said", max_tokens: 4 }),
  "/v1/embeddings": () => ({ model: MODEL, input: ["In the beginning", "And God said"] }),
  "/v1/responses": () => ({ model: MODEL, instructions: "Be brief.", input: [{ role: "user", content: "In the beginning" }], max_output_tokens: 4 }),
  "/v1/messages": () => ({ model: MODEL, max_tokens: 4, system: "Be brief.", messages: [{ role: "user", content: [{ type: "text", text: "In the beginning" }] }] }),
  "/tokenize": () => ({ prompt: "In the beginning" }),
  "/detokenize": () => ({ tokens: [76, 113, 261] }),
  "/admin/keys": () => ({ name: "fuzz", rpm_limit: 100, models: [MODEL], metadata: { tags: ["a"] } }),
  "/admin/teams": () => ({ name: "fuzz-team", tpm_limit: 1000 })
}

/** Odd values a field may be replaced by. */
const ODD: ReadonlyArray<unknown> = [
  null, true, false, 0, -1, 1, 2, 3, 1.5, -0.5, 1e9, -1e9, 2 ** 53, 1e308, "", " ", "a", "\u0000", "\ud800", "😀".repeat(50), "x".repeat(5000),
  [], [1, 2], [[]], [null], ["a", 1], {}, { a: 1 }, { role: "user" }, { role: "user", content: null }, { role: "user", content: [{ type: "text", text: "hi" }] },
  { role: 3, content: "x" }, [{ role: "user", content: "x" }], [{ role: "system", content: "" }], "NaN", "Infinity", "1e400", "true", "0x10",
  { __proto__: { polluted: true } }, { constructor: { prototype: 1 } }, [76, 113, 261], [[1, 2], [3]], [-1], [4096], [1e12]
]

/** Fields a body may get (valid or not), on top of its own. */
const EXTRA_FIELDS = [
  "n", "temperature", "top_p", "top_k", "min_p", "stop", "seed", "stream", "stream_options", "logprobs", "top_logprobs", "echo", "logit_bias",
  "presence_penalty", "frequency_penalty", "repetition_penalty", "user", "tags", "priority", "cache_salt", "prompt_logprobs", "ignore_eos",
  "min_tokens", "stop_token_ids", "skip_special_tokens", "add_generation_prompt", "max_completion_tokens", "response_format", "tools", "metadata",
  "models", "rpm_limit", "tpm_limit", "max_budget", "budget_duration", "expires_at", "team_id", "messages", "prompt", "model", "tokens"
]

const pick = <A>(rand: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]

/** A body mutated a few times: a field retyped, dropped, added; sometimes nested deeper or broken as JSON. */
const mutate = (rand: () => number, base: Record<string, unknown>): string => {
  const body: Record<string, unknown> = { ...base }
  for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) {
    const r = rand()
    const keys = Object.keys(body)
    if (r < 0.35 && keys.length > 0) body[pick(rand, keys)] = pick(rand, ODD)
    else if (r < 0.5 && keys.length > 0) {
      const k = pick(rand, keys)
      if (k !== "max_tokens") delete body[k] // without max_tokens a request may generate for seconds
    } else if (r < 0.85) body[pick(rand, EXTRA_FIELDS)] = pick(rand, ODD)
    else body[pick(rand, EXTRA_FIELDS)] = nest(rand, 1 + Math.floor(rand() * 40))
  }
  // n x max_tokens stays small: the point is the input's handling, not a long generation.
  if (typeof body.n === "number" && body.n > 4 && body.n < 1e6) body.max_tokens = 1
  const text = JSON.stringify(body)
  const r = rand()
  if (r < 0.05) return text.slice(0, Math.floor(rand() * text.length)) // cut short
  if (r < 0.08) return text.replace(/"/, "'")
  if (r < 0.1) return "\ufeff" + text
  if (r < 0.12) return "[" + text + "]"
  return text
}

const nest = (rand: () => number, depth: number): unknown => (depth === 0 ? pick(rand, ODD) : rand() < 0.5 ? [nest(rand, depth - 1)] : { x: nest(rand, depth - 1) })

const QUERIES = ["", "?since=garbage", "?limit=-1", "?limit=1e9", "?group_by=nope", "?key=%00", "?days=-5", "?until=9999999999999", "?team_id=x&include_revoked=maybe", "?request_id=" + "a".repeat(300)]
const BAD_AUTH = ["Bearer sk-inf-" + "A".repeat(43), "Bearer", "Basic Zm9vOmJhcg==", undefined, "Bearer " + "x".repeat(10_000), `Bearer ${MASTER_KEY}x`]

it(`${REQUESTS} fuzzed requests over every route (seed ${SEED}): no 5xx, no hang, still healthy`, async () => {
  const server = await serveInferline({ args: ["--disable-log-requests"] })
  try {
    // What earlier runs found (500s on main): a NUL in a /spend filter, in an admin text field, in metadata.
    const found = [
      await fetch(`${server.url}/spend/logs?key=%00`, { headers: { authorization: `Bearer ${MASTER_KEY}` } }),
      await fetch(`${server.url}/admin/keys`, { method: "POST", headers: { authorization: `Bearer ${MASTER_KEY}` }, body: JSON.stringify({ name: "\u0000" }) }),
      await fetch(`${server.url}/admin/teams`, { method: "POST", headers: { authorization: `Bearer ${MASTER_KEY}` }, body: JSON.stringify({ metadata: { a: ["\u0000"] } }) })
    ]
    expect(found.map((r) => r.status)).toEqual([400, 400, 400])
    const rand = prng(SEED)
    const byStatus = new Map<number, number>()
    const failures: Array<string> = []
    const ids = ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "%2e%2e", "x".repeat(200)]
    for (let i = 0; i < REQUESTS; i++) {
      // Most requests are bodies for the routes that take one (where input handling is); the rest anything.
      const toBody = rand() < 0.7
      const route = toBody ? pick(rand, Object.keys(BASES)) : pick(rand, ROUTES).replace(":id", pick(rand, ids))
      const method = toBody ? "POST" : pick(rand, METHODS)
      const base = BASES[route]
      const body = method === "GET" || method === "HEAD" ? undefined : base !== undefined && rand() < 0.9 ? mutate(rand, base()) : rand() < 0.5 ? mutate(rand, {}) : pick(rand, ["", "null", "{", "[]", "\u0000", "{\"a\":" + "[".repeat(5000)])
      const headers: Record<string, string> = {}
      const auth = rand() < 0.85 ? `Bearer ${MASTER_KEY}` : pick(rand, BAD_AUTH)
      if (auth !== undefined) headers.authorization = auth
      if (rand() < 0.9) headers["content-type"] = pick(rand, ["application/json", "application/json", "text/plain", "application/json; charset=latin1", "multipart/form-data"])
      if (rand() < 0.2) headers["x-request-id"] = pick(rand, ["ok-id", "bad id", "x".repeat(500), "\u00e9"].map((v) => encodeURI(v)))
      if (rand() < 0.1) headers["x-inferline-tags"] = pick(rand, ["a,b", ",,,", "x".repeat(300), "%00"])
      const url = `${server.url}${route}${route.startsWith("/spend") || route.startsWith("/admin") || route.startsWith("/ui") ? pick(rand, QUERIES) : ""}`
      const replay = `#${i} ${method} ${url} ${JSON.stringify(headers).slice(0, 200)} ${String(body).slice(0, 300)}`
      try {
        const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(20_000) })
        await res.arrayBuffer()
        byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1)
        if (res.status >= 500) failures.push(`${res.status}: ${replay}`)
      } catch (e) {
        failures.push(`${(e as Error).name} ${(e as Error).message}: ${replay}`)
      }
    }
    console.log(`fuzz (seed ${SEED}): ${REQUESTS} requests, statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)))}`)
    expect(failures.slice(0, 10)).toEqual([])
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    expect(server.output()).not.toMatch(/ERROR .* failed/)
  } finally {
    await server.stop()
  }
})
