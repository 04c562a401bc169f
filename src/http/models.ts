import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Engine } from "../actors/engine.ts"
import { Router } from "../router/router.ts"

/** When this process started serving, reported as the model's `created` (as vLLM does). */
const servedSince = Math.floor(Date.now() / 1000)

/**
 * GET /v1/models: the served model, with vLLM's extras (max_model_len, root), then the router's model
 * groups (from --config), each owned by the provider(s) behind it.
 */
const modelsRoute = HttpRouter.add(
  "GET",
  "/v1/models",
  Effect.gen(function*() {
    const { info } = yield* Engine
    const router = yield* Router
    const entry = (id: string, group: string) => ({
      id,
      object: "model",
      created: servedSince,
      owned_by: [...(router.providersOf(group) ?? [])].join(","),
      root: group,
      parent: null
    })
    const groups = router.groupNames.slice(1).map((id) => entry(id, id))
    // model_group_alias names whose group exists (hidden ones are routed but not listed).
    const aliases = router.visibleAliases.filter((a) => router.providersOf(a.group) !== undefined).map((a) => entry(a.alias, a.group))
    return HttpServerResponse.jsonUnsafe({
      object: "list",
      data: [{
        id: info.modelName,
        object: "model",
        created: servedSince,
        owned_by: "inferline",
        root: info.modelName,
        parent: null,
        max_model_len: info.maxModelLen
      }, ...groups, ...aliases]
    })
  })
)

/** GET /health: 200 once the model is loaded (the server only listens after that). */
const healthRoute = HttpRouter.add("GET", "/health", HttpServerResponse.empty({ status: 200 }))

export const modelRoutes = Layer.mergeAll(modelsRoute, healthRoute)
