import { Effect, Layer, ManagedRuntime } from "effect"
import { HttpServer } from "effect/http"
import OpenAI from "openai"
import { Engine } from "../../../src/actors/engine.ts"
import { Gateway } from "../../../src/gateway/gateway.ts"
import { GatewayAdmin } from "../../../src/gateway/gateway-admin.ts"
import { gatewayTestLayer } from "../../../src/gateway/layers.ts"
import { httpServerLayer } from "../../../src/http/server.ts"
import { routerLayer } from "../../../src/router/layer.ts"
import { engineLayer, type EngineOptions } from "../../../src/layers/engine.ts"
import { testModelDir } from "../../support/models.ts"

export { testModelDir }

/** Tests address the model by the bundled name whichever directory serves it. */
export const MODEL = "inferline-kjv"

export interface TestServer {
  readonly baseUrl: string
  readonly client: OpenAI
  readonly runtime: ManagedRuntime.ManagedRuntime<Engine | HttpServer.HttpServer | Gateway | GatewayAdmin, unknown>
  readonly close: () => Promise<void>
}

/**
 * The real server (real model, real engine, Node HTTP server on 127.0.0.1 with an ephemeral port) in
 * this process, with the official OpenAI SDK pointed at it.
 */
export const startTestServer = async (
  engine: Partial<EngineOptions> = {},
  http: { readonly maxRequestBodyBytes?: number; readonly masterKey?: string } = {}
): Promise<TestServer> => {
  const layer = httpServerLayer({ host: "127.0.0.1", port: 0, ...http }).pipe(
    Layer.provideMerge(routerLayer()),
    Layer.provideMerge(engineLayer({ modelDir: testModelDir(), servedModelName: MODEL, ...engine })),
    // In-memory keys and limits; without a master key, auth is off (as `npm start` without one).
    Layer.provideMerge(gatewayTestLayer({ masterKey: http.masterKey }))
  )
  const runtime = ManagedRuntime.make(layer)
  const address = await runtime.runPromise(Effect.gen(function*() {
    return (yield* HttpServer.HttpServer).address
  }))
  if (address._tag !== "InetAddressV4" && address._tag !== "InetAddressV6") throw new Error("expected a TCP address")
  const baseUrl = `http://127.0.0.1:${address.port}`
  return {
    baseUrl,
    client: new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: "unused", maxRetries: 0, timeout: 30_000 }),
    runtime,
    close: () => runtime.dispose()
  }
}

/** POSTs JSON (or raw text) and returns the status, headers and parsed body (null when not JSON). */
export const postJson = async (url: string, body: unknown, raw = false, signal?: AbortSignal, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: raw ? (body as string) : JSON.stringify(body), signal })
  const text = await response.text()
  let json: any = null
  try {
    json = JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, json, text }
}

/** One Prometheus sample's value, e.g. metricValue(text, "inferline_kv_cache_usage_perc"), or null. */
export const metricValue = (exposition: string, name: string, labels: Record<string, string> = {}): number | null => {
  for (const line of exposition.split("\n")) {
    if (line.startsWith("#")) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const set = m[2] ?? ""
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) return Number(m[3])
  }
  return null
}

/** GETs a JSON document. */
export const getJson = async (url: string): Promise<any> => (await fetch(url)).json()

export const scrapeMetrics = async (baseUrl: string, key?: string) =>
  (await fetch(`${baseUrl}/metrics`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } })).text()
