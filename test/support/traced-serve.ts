import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { otlpReceiver, type ReceivedSpan } from "../observability/support/otlp-receiver.ts"
import { testModelDir } from "./models.ts"
import { servedUrl, spawnServe, waitFor, type ServeProcess } from "./cli-process.ts"

/**
 * `inferline serve` of the test model as a user runs it (keys on with `master`, the router config given
 * as YAML lines, served as model `served`), its spans exported to an OTLP receiver of the test's own and
 * its ledger in embedded PGlite flushed every 50 ms: what the client-API tests check each answer against,
 * its ledger row and its span.
 */
export interface TracedServe {
  readonly serve: ServeProcess
  readonly url: string
  readonly receiver: { readonly url: string; readonly spans: ReadonlyArray<ReceivedSpan> }
  /** The request's ledger row, once written. */
  readonly ledgerRow: (requestId: string) => Promise<any>
  /** The request's span, once exported. */
  readonly spanOf: (requestId: string) => Promise<ReceivedSpan>
  readonly close: () => Promise<void>
}

export const startTracedServe = async (options: { readonly master: string; readonly config: ReadonlyArray<string>; readonly args?: ReadonlyArray<string> }): Promise<TracedServe> => {
  const scope = Effect.runSync(Scope.make())
  const receiver = await Effect.runPromise(Scope.provide(otlpReceiver, scope))
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "traced-serve-")), "router.yaml")
  fs.writeFileSync(file, options.config.join("\n"))
  const serve = spawnServe([testModelDir(), "--port", "0", "--served-model-name", "served", ...(options.args ?? []), "--config", file, "--disable-log-requests"], {
    INFERLINE_MASTER_KEY: options.master,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: "50",
    INFERLINE_LEDGER_FLUSH_MS: "50",
    DATABASE_URL: undefined
  })
  const url = await servedUrl(serve)
  const ledgerRow = async (requestId: string) => {
    let row: any
    await waitFor(`the ledger row of ${requestId}`, async () => {
      const logs = await fetch(`${url}/spend/logs?request_id=${requestId}`, { headers: { authorization: `Bearer ${options.master}` } }).then((r) => r.json() as Promise<any>)
      row = logs.data[0]
      return row !== undefined
    })
    return row
  }
  const spanOf = async (requestId: string) => {
    let span: ReceivedSpan | undefined
    await waitFor(`the span of ${requestId}`, () => (span = receiver.spans.find((s) => s.attributes["inferline.request_id"] === requestId)) !== undefined)
    return span!
  }
  const close = async () => {
    serve.child.kill("SIGTERM")
    await serve.exited
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  return { serve, url, receiver, ledgerRow, spanOf, close }
}
