import { Effect, Layer } from "effect"
import { Engine } from "../actors/engine.ts"
import { emptyRouterConfig, parseRouterConfig, RouterConfigError, type RouterConfig } from "./config.ts"
import { makeRouter, Router, type RouterOptions } from "./router.ts"
import { RouterSharedState } from "./shared-state.ts"

/**
 * The Router built from a resolved config (default: none, so every request goes to the served model),
 * around the served model (the Engine's, whose group always exists); its connection pools close with
 * the layer.
 */
export const routerLayer = (config: RouterConfig = emptyRouterConfig(), options: Omit<RouterOptions, "servedModel"> = {}): Layer.Layer<Router, RouterConfigError, Engine> =>
  Layer.effect(
    Router,
    Effect.gen(function*() {
      const engine = yield* Engine
      const shared = yield* RouterSharedState
      const router = yield* Effect.acquireRelease(
        Effect.try({
          try: () => makeRouter(config, { shared, ...options, servedModel: engine.info.gatewayOnly === true ? null : engine.info.modelName }),
          catch: (e) => (e instanceof RouterConfigError ? e : new RouterConfigError({ message: String(e) }))
        }),
        (router) => Effect.sync(() => router.close())
      )
      yield* router.runBackground
      return router
    })
  )

/**
 * The Router from the parsed `--config` file (the whole file: serve options in it are ignored here).
 * Throws RouterConfigError, naming the offending path, when the router part is invalid; call it before
 * building the server so a bad config stops startup with a usage error.
 */
export const routerLayerFromConfig = (file: unknown, env: Record<string, string | undefined> = process.env) =>
  routerLayer(parseRouterConfig(file ?? {}, env))
