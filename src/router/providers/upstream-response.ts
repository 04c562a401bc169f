import { Effect } from "effect"
import type { DeploymentConfig } from "../config.ts"
import { ProviderError } from "./provider.ts"
import { upstreamError } from "./upstream-error.ts"
import { readText, type UpstreamResponse } from "./upstream-http.ts"

/**
 * Checks of what an upstream answered, shared by the providers: each failure is the upstream's fault
 * (kind server: retried and fallen back before the first byte, an error event after), with a message a
 * client may read and the upstream's own text for the log.
 */

/** Fails with the classified upstream error unless the status is 2xx. */
export const checkStatus = (d: DeploymentConfig, response: UpstreamResponse) =>
  response.status >= 200 && response.status < 300
    ? Effect.succeed(response)
    : Effect.flatMap(readText(response), (text) => Effect.fail(upstreamError(d.id, response.status, response.headers, text)))

/** A stream request answered with something other than server-sent events (JSON, `null`, an HTML page). */
export const checkEventStream = (d: DeploymentConfig, response: UpstreamResponse) => {
  const type = String(response.headers["content-type"] ?? "")
  return type.toLowerCase().startsWith("text/event-stream")
    ? Effect.succeed(response)
    : Effect.flatMap(readText(response), (text) =>
      Effect.fail(new ProviderError({
        kind: "server",
        message: `it answered a stream request with ${type === "" ? "a body without a content type" : type} instead of server-sent events.`,
        detail: `Upstream ${d.id} answered a stream request with ${type}: ${text.slice(0, 2000)}`,
        deployment: d.id
      })))
}

/** A 2xx status, then server-sent events for a stream request. */
export const checkStreamResponse = (d: DeploymentConfig, response: UpstreamResponse) => Effect.flatMap(checkStatus(d, response), (r) => checkEventStream(d, r))

export const badJson = (d: DeploymentConfig) => new ProviderError({ kind: "server", message: "it answered with a body that is not JSON.", deployment: d.id })

/** JSON of the wrong shape (`null`, an object without what the API promises). */
export const unexpectedBody = (d: DeploymentConfig, what: string, text: string) =>
  new ProviderError({ kind: "server", message: `it answered with JSON that is not ${what}.`, detail: `Upstream ${d.id} answered: ${text.slice(0, 2000)}`, deployment: d.id })

export const malformedEvent = (d: DeploymentConfig, data: string) =>
  new ProviderError({ kind: "server", message: "it sent a malformed stream event.", detail: `Upstream ${d.id} sent: ${JSON.stringify(data.slice(0, 500))}`, deployment: d.id })

/** A stream that ended before it said it was done: it must not pass as a complete answer. */
export const cutShort = (d: DeploymentConfig, missing: string) =>
  new ProviderError({ kind: "server", message: `its stream ended without ${missing}.`, deployment: d.id })
