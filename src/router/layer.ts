import { Effect, Layer } from "effect"
import { parseRouterConfig, type RouterConfig } from "./config.ts"
import { makeRouter, Router, type RouterOptions } from "./router.ts"

/** The Router built from a resolved config; its connection pools close with the layer. */
export const routerLayer = (config: RouterConfig, options: RouterOptions = {}) =>
  Layer.effect(Router, Effect.acquireRelease(Effect.sync(() => makeRouter(config, options)), (router) => Effect.sync(() => router.close())))

/**
 * The Router from the parsed `--config` file (the whole file: serve options in it are ignored here).
 * Throws RouterConfigError, naming the offending path, when the router part is invalid; call it before
 * building the server so a bad config stops startup with a usage error.
 */
export const routerLayerFromConfig = (file: unknown, env: Record<string, string | undefined> = process.env) =>
  routerLayer(parseRouterConfig(file ?? {}, env))
