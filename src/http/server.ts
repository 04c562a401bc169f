import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Duration, Effect, Layer, Metric, Option } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"
import { authMiddleware } from "./auth.ts"
import { MaxRequestBodyBytes } from "./body.ts"
import { chatCompletionsRoute } from "./chat.ts"
import { completionsRoute } from "./completions.ts"
import { embeddingsRoute } from "./embeddings.ts"
import { messagesRoutes } from "./anthropic/messages.ts"
import { responsesRoutes } from "./responses/responses.ts"
import { adminRoutes } from "./gateway/admin-routes.ts"
import { createServerWithHeaderTimeout, DEFAULT_HEADER_TIMEOUT_SECONDS } from "./header-timeout.ts"
import { ledgerUnavailableIn } from "./ledger-unavailable.ts"
import { requestIdMiddleware } from "./gateway/request-id.ts"
import { metricsRoute } from "./metrics.ts"
import { modelRoutes } from "./models.ts"
import { ENDPOINTS, openApiRoutes } from "./openapi.ts"
import { routerStatusRoutes } from "./router-status.ts"
import { cacheRoutes } from "./cache-routes.ts"
import { spendRoutes } from "./spend.ts"
import { tokenizeRoutes } from "./tokenize.ts"
import { uiRoutes } from "./ui.ts"
import { websocketRoute } from "./websocket.ts"
import { internalError, methodNotAllowed, routeNotFound } from "../api/api-error.ts"
import { errorResponse } from "./errors.ts"
import { corsMiddleware } from "./cors.ts"
import { healthRoutes } from "./health.ts"
import { closeIdleWhileDraining } from "./drain.ts"

export interface HttpServerOptions {
  readonly host: string
  /** 0 picks a free port (tests read it from HttpServer.address). */
  readonly port: number
  /** Largest accepted request body (default 2 MiB). */
  readonly maxRequestBodyBytes?: number
  /** Log one line per request (Effect's HTTP logger). */
  readonly logRequests?: boolean
  /** Serve /metrics without a key even when keys are on (for a Prometheus scraper). */
  readonly publicMetrics?: boolean
  /** Seconds a connection gets to send its request headers, silent ones included (default 10). */
  readonly headerTimeoutSeconds?: number
  /**
   * The registry request metrics are recorded into (default: a new one per server). Pass the one the
   * OTLP exporter reads so the same metrics go out over OTLP too.
   */
  readonly metricRegistry?: Metric.MetricRegistry
  /** Seconds in-flight requests get to finish after SIGTERM/SIGINT (the listener closes at once); then they are cancelled. Default 5. */
  readonly shutdownGraceSeconds?: number
  /** Browser origins allowed by CORS (`*` for any); none: CORS off. */
  readonly corsAllowOrigins?: ReadonlyArray<string>
}

const pathOf = (url: string) => url.split("?")[0]

/** Whether a documented path (`/v1/responses/{id}`) names this request path (`/v1/responses/resp_1`). */
const pathMatches = (template: string, path: string): boolean => {
  if (!template.includes("{")) return template === path
  const a = template.split("/"), b = path.split("/")
  return a.length === b.length && a.every((part, i) => (part.startsWith("{") ? b[i] !== "" : part === b[i]))
}

/**
 * Around every route: an unknown path is a 404 and a known path with the wrong method a 405, both in
 * the OpenAI error shape; any other unexpected failure or defect is logged and answered with a generic
 * 500 (no stack trace leaves the server); interruptions pass through. With `logRequests`, one line per
 * request (method, path, status, time to the response head; a stream's body may go on after it).
 */
export const apiMiddleware = (logRequests: boolean) =>
  HttpRouter.middleware((app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = performance.now()
      const response = yield* Effect.catchCause(app, (cause) =>
        Effect.gen(function*() {
          if (Cause.hasInterruptsOnly(cause)) return yield* Effect.failCause(cause)
          const error = Cause.findErrorOption(cause)
          if (Option.isSome(error) && HttpServerError.isHttpServerError(error.value) && error.value.reason._tag === "RouteNotFound") {
            const path = pathOf(request.url)
            const allowed = ENDPOINTS.filter((e) => pathMatches(e.path, path)).map((e) => e.method)
            return errorResponse(allowed.length > 0 ? methodNotAllowed(request.method, path, allowed) : routeNotFound(request.method, path))
          }
          const unavailable = ledgerUnavailableIn(cause)
          if (unavailable !== undefined) return errorResponse(unavailable)
          yield* Effect.logError(`${request.method} ${pathOf(request.url)} failed`, cause)
          return errorResponse(internalError())
        }))
      if (logRequests) yield* Effect.logInfo(`${request.method} ${pathOf(request.url)} ${response.status} ${(performance.now() - started).toFixed(0)} ms`)
      return response
    }), { global: true })

/** Every route of the API (they need the Engine and the Gateway). */
export const apiRoutes = (options: { readonly logRequests: boolean; readonly publicMetrics?: boolean; readonly corsAllowOrigins?: ReadonlyArray<string> }) =>
  Layer.mergeAll(
    chatCompletionsRoute,
    completionsRoute,
    embeddingsRoute,
    messagesRoutes,
    responsesRoutes,
    modelRoutes,
    tokenizeRoutes,
    metricsRoute,
    healthRoutes,
    openApiRoutes,
    websocketRoute,
    adminRoutes,
    spendRoutes,
    routerStatusRoutes,
    cacheRoutes,
    uiRoutes,
    // Global middlewares, outermost first: every response (401s included) gets its request id and its
    // log line, then the key is checked.
    requestIdMiddleware,
    corsMiddleware(options.corsAllowOrigins ?? []),
    apiMiddleware(options.logRequests),
    authMiddleware({ publicMetrics: options.publicMetrics ?? false })
  )

/** How long in-flight requests (streams included) may go on after a shutdown signal before they are aborted (default). */
export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 5

/**
 * The OpenAI-compatible HTTP server on Node, listening once built. It exposes `HttpServer` (for the
 * bound address) and needs the `Engine` and the `Gateway` (keys, limits; `gatewayTestLayer()` with no
 * master key turns auth off). Each server keeps its own metric registry, so two servers in
 * one process (tests) do not mix their request metrics.
 */
export const httpServerLayer = (options: HttpServerOptions) => {
  const maxRequestBodyBytes = options.maxRequestBodyBytes ?? MaxRequestBodyBytes.defaultValue()
  return HttpRouter.serve(apiRoutes({ logRequests: options.logRequests ?? false, publicMetrics: options.publicMetrics, corsAllowOrigins: options.corsAllowOrigins }), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => closeIdleWhileDraining(createServerWithHeaderTimeout((options.headerTimeoutSeconds ?? DEFAULT_HEADER_TIMEOUT_SECONDS) * 1000)), {
      host: options.host,
      port: options.port,
      gracefulShutdownTimeout: Duration.seconds(options.shutdownGraceSeconds ?? DEFAULT_SHUTDOWN_GRACE_SECONDS),
      // A WebSocket message is a request body: the same limit applies.
      websocket: { maxPayload: maxRequestBodyBytes }
    })),
    Layer.provide(Layer.succeed(MaxRequestBodyBytes, maxRequestBodyBytes)),
    Layer.provide(Layer.sync(Metric.MetricRegistry, () => options.metricRegistry ?? new Map()))
  )
}
