import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Engine } from "../actors/engine.ts"
import { Gateway } from "../gateway/gateway.ts"
import { Router } from "../router/router.ts"
import { authenticateRequest } from "./gateway/authenticate-request.ts"
import { orGatewayErrorResponse } from "./gateway/gateway-error-response.ts"

/** When this process started serving, reported as the model's `created` (as vLLM does). */
const servedSince = Math.floor(Date.now() / 1000)

/**
 * GET /v1/models: the served model, with vLLM's extras (max_model_len, root), then the router's model
 * groups (from --config), each owned by the provider(s) behind it; only the names the caller's key (and
 * its team) may use.
 */
const modelsRoute = HttpRouter.add(
  "GET",
  "/v1/models",
  orGatewayErrorResponse(Effect.gen(function*() {
    const principal = yield* authenticateRequest
    const { info } = yield* Engine
    const gateway = yield* Gateway
    const router = yield* Router
    const entry = (id: string, group: string) => ({
      id,
      object: "model",
      created: servedSince,
      owned_by: [...(router.providersOf(group) ?? [])].join(","),
      root: group,
      parent: null
    })
    const groups = router.groupNames.filter((g) => g !== router.servedModel).map((id) => entry(id, id))
    // model_group_alias names whose group exists (hidden ones are routed but not listed).
    const aliases = router.visibleAliases.filter((a) => router.providersOf(a.group) !== undefined).map((a) => entry(a.alias, a.group))
    const served = {
      id: info.modelName,
      object: "model",
      created: servedSince,
      owned_by: "inferline",
      root: info.modelName,
      parent: null,
      max_model_len: info.maxModelLen
    }
    const entries = info.gatewayOnly === true ? [...groups, ...aliases] : [served, ...groups, ...aliases]
    const allowed = yield* Effect.forEach(entries, (m) => Effect.isSuccess(gateway.authorizeModel(principal, m.id)))
    return HttpServerResponse.jsonUnsafe({ object: "list", data: entries.filter((_, i) => allowed[i]) })
  }))
)

/** GET /health: 200 once the model is loaded (the server only listens after that). */
const healthRoute = HttpRouter.add("GET", "/health", HttpServerResponse.empty({ status: 200 }))

export const modelRoutes = Layer.mergeAll(modelsRoute, healthRoute)
