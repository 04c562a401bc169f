/**
 * The crash test's server process: the real HTTP server and request path (gateway with in-memory keys,
 * router, observer) with the real ledger (journal + batched Postgres writes) on the schema and journal
 * directory named in the environment, over the fake engine (real scheduler, fake model) so the test
 * needs no model time. Prints `READY <port>` once listening (after replaying any journal left by a
 * killed predecessor).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { databaseLayer } from "../../../src/db/database.ts"
import { ledgerLayer } from "../../../src/ledger/ledger.ts"
import { requestObserverLayer } from "../../../src/observability/request-observer.ts"
import { gatewayTestLayer } from "../../../src/gateway/layers.ts"
import { httpServerLayer } from "../../../src/http/server.ts"
import { fakeEngineLayer } from "../../../src/layers/fake-engine.ts"
import { routerLayer } from "../../../src/router/layer.ts"
import { emptyRouterConfig } from "../../../src/router/config.ts"
import { serverUrl } from "./observed-server.ts"

const env = process.env
const database = databaseLayer({ url: env.CRASH_DATABASE_URL, schema: env.CRASH_SCHEMA, maxConnections: 2 })
const observability = requestObserverLayer().pipe(
  Layer.provideMerge(ledgerLayer({ journalDir: env.CRASH_JOURNAL_DIR!, batchSize: 50, flushInterval: "300 millis" })),
  Layer.provide(database)
)
const ready = Layer.effectDiscard(Effect.flatMap(serverUrl, (url) => Console.log(`READY ${new URL(url).port}`)))
const server = httpServerLayer({ host: "127.0.0.1", port: 0 }).pipe(
  Layer.provideMerge(routerLayer(emptyRouterConfig())),
  Layer.provideMerge(fakeEngineLayer({ stepDelay: "1 millis" })),
  Layer.provideMerge(gatewayTestLayer())
)
NodeRuntime.runMain(Layer.launch(ready.pipe(Layer.provideMerge(server), Layer.provide(observability))))
