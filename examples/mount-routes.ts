/**
 * Example 2: an Effect app that serves its own routes next to Inferline's OpenAI-compatible API, on one
 * server. Inferline's routes need the Engine, the Router and the Gateway; here the gateway runs with in-memory keys
 * and no master key (auth off, so bind loopback only).
 *
 *   node examples/mount-routes.ts 8080
 *   curl localhost:8080/hello ; curl localhost:8080/v1/models
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import { apiRoutes, bundledModelDir, engineLayer, gatewayTestLayer, routerLayer } from "../src/index.ts"

/** The app's own route. */
const hello = HttpRouter.add("GET", "/hello", Effect.succeed(HttpServerResponse.jsonUnsafe({ hello: "world" })))

/** Both route sets on one server, listening on 127.0.0.1:`port` (0 picks a free port). */
export const appLayer = (port: number) =>
  HttpRouter.serve(Layer.mergeAll(hello, apiRoutes({ logRequests: false }))).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port })),
    // The router: with no config, every request goes to the served model.
    Layer.provide(routerLayer()),
    Layer.provide(engineLayer({ modelDir: bundledModelDir, kvCacheMemoryBytes: 32 * 2 ** 20 })),
    Layer.provide(gatewayTestLayer())
  )

if (import.meta.main) NodeRuntime.runMain(Layer.launch(appLayer(Number(process.argv[2] ?? 8080))))
