/**
 * The crash test's server process: the observed test route with the real ledger (journal + batched
 * Postgres writes) on the schema and journal directory named in the environment. Prints `READY <port>`
 * once listening (after replaying any journal left by a killed predecessor).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { databaseLayer } from "../../../src/db/database.ts"
import { ledgerLayer } from "../../../src/ledger/ledger.ts"
import { requestObserverLayer } from "../../../src/observability/request-observer.ts"
import { observedServerLayer, serverUrl } from "./observed-server.ts"

const env = process.env
const database = databaseLayer({ url: env.CRASH_DATABASE_URL, schema: env.CRASH_SCHEMA, maxConnections: 2 })
const observability = requestObserverLayer().pipe(
  Layer.provideMerge(ledgerLayer({ journalDir: env.CRASH_JOURNAL_DIR!, batchSize: 50, flushInterval: "300 millis" })),
  Layer.provide(database)
)
const ready = Layer.effectDiscard(Effect.flatMap(serverUrl, (url) => Console.log(`READY ${new URL(url).port}`)))
NodeRuntime.runMain(Layer.launch(ready.pipe(Layer.provideMerge(observedServerLayer()), Layer.provide(observability))))
