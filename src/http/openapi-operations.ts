import { KeyBody, TeamBody } from "./gateway/admin-schemas.ts"
import type { Endpoint } from "./endpoint.ts"

/**
 * The operator's routes in the OpenAPI document: admin, spend, router, evaluation, dashboard and
 * health. Kept apart from the OpenAI routes (openapi.ts) so each list stays one concept.
 */
const crud = (base: string, what: string, tag: string, description: string, body?: Endpoint["request"]): ReadonlyArray<Endpoint> => [
  { method: "POST", path: base, tag, access: "master", summary: `Create a ${what}`, description: `Master key. ${description}`, ...(body !== undefined && { request: body }) },
  { method: "GET", path: base, tag, access: "master", summary: `List ${what}s`, description: `Master key. Every ${what}.` },
  { method: "GET", path: `${base}/{id}`, tag, access: "master", summary: `Get a ${what}`, description: `Master key. One ${what}; 404 \`not_found\` for an unknown id.` },
  { method: "PATCH", path: `${base}/{id}`, tag, access: "master", summary: `Update a ${what}`, description: `Master key. Changes the fields sent; \`null\` clears a limit.`, ...(body !== undefined && { request: body }) },
  { method: "DELETE", path: `${base}/{id}`, tag, access: "master", summary: `Delete a ${what}`, description: `Master key. ${what === "key" ? "Revokes the key (effective on every replica within a second with REDIS_URL)." : `Deletes the ${what}.`}` }
]

export const OPERATIONS_ENDPOINTS: ReadonlyArray<Endpoint> = [
  ...crud("/admin/keys", "key", "Admin", "Creates an API key; the key itself is in this response only. Fields: name, team_id, models, rpm_limit, tpm_limit, max_parallel_requests, max_budget, soft_budget, budget_duration, max_prompt_tokens, max_messages, expires_at, metadata.", KeyBody),
  ...crud("/admin/teams", "team", "Admin", "Creates a team; its limits apply to its keys together.", TeamBody),
  ...crud("/admin/end_users", "end user", "Admin", "Records an end user (the `user` a request names): budget, blocked, metadata."),
  {
    method: "GET", path: "/spend/logs", tag: "Spend", access: "master", summary: "Spend logs",
    description: "Master key. Ledger rows, newest first: `?key=`, `?team=`, `?user=`, `?model=`, `?request_id=`, `?client_request_id=`, `?since=`, `?until=`, `?limit=`. 503 `ledger_unavailable` without a database."
  },
  {
    method: "GET", path: "/spend/report", tag: "Spend", access: "master", summary: "Spend report",
    description: "Master key. Spend and tokens per `?group_by=key|team|model|tag|user`, over `?since=`/`?until=`."
  },
  {
    method: "GET", path: "/evaluation/scores", tag: "Spend", access: "master", summary: "Evaluation scores",
    description: "Master key. The evaluators' scores of one request: `?request_id=` (required)."
  },
  {
    method: "GET", path: "/router/deployments", tag: "Router", access: "master", summary: "Deployments",
    description: "Master key. Every deployment of every model group: state (closed, open = in cooldown, half-open), cooldown_until, in_flight, latency, usage this minute."
  },
  { method: "GET", path: "/ui", tag: "Dashboard", access: "public", summary: "Dashboard page", description: "The dashboard's HTML page (no data: it asks for the master key and reads /ui/data).", response: { contentType: "text/html", schema: null } },
  { method: "GET", path: "/ui/chart.umd.min.js", tag: "Dashboard", access: "public", summary: "Dashboard chart script", description: "Chart.js, served by the server itself (no CDN).", response: { contentType: "text/javascript", schema: null } },
  { method: "GET", path: "/ui/data", tag: "Dashboard", access: "master", summary: "Dashboard data", description: "Master key. The dashboard's figures: spend and requests over `?days=` (default 14), by key, team, model and end user; the engine now." }
]
