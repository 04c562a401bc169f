import { Effect, Layer, ManagedRuntime } from "effect"
import { HttpServer } from "effect/http"
import OpenAI from "openai"
import { gatewayTestLayer } from "../../../src/gateway/layers.ts"
import { httpServerLayer } from "../../../src/http/server.ts"
import { engineLayer } from "../../../src/layers/engine.ts"
import { parseRouterConfig } from "../../../src/router/config.ts"
import { routerLayer } from "../../../src/router/layer.ts"
import { Router, type RouterService } from "../../../src/router/router.ts"
import { seededRandom } from "../../../src/router/strategies.ts"
import { MODEL, postJson, testModelDir } from "../../http/support/server.ts"

export { MODEL }

export interface RouterTestServer {
  readonly baseUrl: string
  readonly client: OpenAI
  readonly router: RouterService
  readonly close: () => Promise<void>
}

/**
 * The real Inferline server (real engine for the served model, in-memory gateway, Node HTTP on an
 * ephemeral port) with a Router built from `config` (LiteLLM's shape) and a seeded random source.
 */
export const startRouterServer = async (
  config: unknown,
  options: { readonly seed?: number; readonly masterKey?: string; readonly services?: Layer.Layer<never> } = {}
): Promise<RouterTestServer> => {
  const layer = httpServerLayer({ host: "127.0.0.1", port: 0 }).pipe(
    Layer.provideMerge(options.services ?? Layer.empty),
    Layer.provideMerge(routerLayer(parseRouterConfig(config, { UPSTREAM_KEY: "sk-upstream" }), { random: seededRandom(options.seed ?? 1) })),
    Layer.provideMerge(engineLayer({ modelDir: testModelDir(), servedModelName: MODEL })),
    Layer.provideMerge(gatewayTestLayer({ masterKey: options.masterKey }))
  )
  const runtime = ManagedRuntime.make(layer)
  const { address, router } = await runtime.runPromise(Effect.gen(function*() {
    return { address: (yield* HttpServer.HttpServer).address, router: yield* Router }
  }))
  if (address._tag !== "InetAddressV4") throw new Error("expected a TCP address")
  const baseUrl = `http://127.0.0.1:${address.port}`
  return {
    baseUrl,
    router,
    client: new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: options.masterKey ?? "unused", maxRetries: 0, timeout: 10_000 }),
    close: () => runtime.dispose()
  }
}

/** A model_list entry for an OpenAI-compatible fake upstream. */
export const openAiDeployment = (group: string, id: string, url: string, params: Record<string, unknown> = {}) => ({
  model_name: group,
  litellm_params: { model: `openai/${id}-model`, api_base: `${url}/v1`, api_key: "os.environ/UPSTREAM_KEY", ...params },
  model_info: { id }
})

export const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "hi" }], ...extra })

/** POSTs a chat request and returns status, headers and the JSON (or text) body. */
export const postChat = (baseUrl: string, body: unknown, signal?: AbortSignal) => postJson(`${baseUrl}/v1/chat/completions`, body, false, signal)
