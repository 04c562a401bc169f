import { Data, Schema, SchemaIssue } from "effect"

/**
 * The `type` field of an OpenAI error; clients branch on the HTTP status, humans read the type. A 429 is
 * typed by the limit that was hit, `requests` or `tokens`, as OpenAI does.
 */
export type ApiErrorType = "invalid_request_error" | "server_error" | "requests" | "tokens"

/**
 * An error the API answers with, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
 * Every failure of a request handler ends up as one of these, so no input can surface a stack trace.
 * The lower layers fail with their own errors (EngineError, GatewayError, ProviderError: reasons, no
 * status); src/http/error-mapping.ts is the one place they become ApiErrors.
 */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: number
  readonly type: ApiErrorType
  readonly message: string
  readonly param: string | null
  readonly code: string | null
  readonly headers?: Readonly<Record<string, string>>
}> {}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError({ status: 400, type: "invalid_request_error", message, param, code })

/** A request without a model to a gateway that has no default one (`serve --no-model`). */
export const modelRequired = () => invalidRequest("You must provide a model parameter (this server has no default model).", "model")

export const modelNotFound = (model: string) =>
  new ApiError({
    status: 404,
    type: "invalid_request_error",
    message: `The model \`${model}\` does not exist. GET /v1/models lists the served models.`,
    param: "model",
    code: "model_not_found"
  })

export const routeNotFound = (method: string, path: string) =>
  new ApiError({ status: 404, type: "invalid_request_error", message: `No route for ${method} ${path}. GET /docs lists the endpoints.`, param: null, code: "not_found" })

export const methodNotAllowed = (method: string, path: string, allowed: ReadonlyArray<string>) =>
  new ApiError({
    status: 405,
    type: "invalid_request_error",
    message: `${method} is not allowed on ${path}; use ${allowed.join(" or ")}.`,
    param: null,
    code: "method_not_allowed",
    headers: { allow: allowed.join(", ") }
  })

export const bodyTooLarge = (limitBytes: number) =>
  new ApiError({
    status: 413,
    type: "invalid_request_error",
    message: `The request body exceeds the limit of ${limitBytes} bytes (--max-request-body-size).`,
    param: null,
    code: "request_too_large"
  })

/** Faults of ours: the message is generic on purpose, the details go to the server log. */
export const internalError = (message = "The server had an internal error while processing your request.") =>
  new ApiError({ status: 500, type: "server_error", message, param: null, code: "internal_error" })

/** `["messages", 0, "content"]` → `messages[0].content`, the way OpenAI names nested params. */
export const formatParamPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`, "")

const issueFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first issue of a schema violation: where (a param path) and what. */
export const firstSchemaIssue = (issue: SchemaIssue.Issue): { readonly param: string; readonly message: string } => {
  const first = issueFormatter(issue).issues[0]
  const path = (first?.path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? p.key : p)) as Array<PropertyKey>
  return { param: formatParamPath(path), message: first?.message ?? "invalid value" }
}

/** A schema violation as a 400 naming the offending field (param) in both the message and `param`. */
export const fromSchemaError = (e: Schema.SchemaError): ApiError => {
  const { param, message } = firstSchemaIssue(e.issue)
  return param === ""
    ? invalidRequest(`Invalid request body: ${message}.`)
    : invalidRequest(`Invalid value for '${param}': ${message}.`, param)
}
