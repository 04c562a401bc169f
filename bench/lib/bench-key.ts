/** The master key the benchmarks start `inferline serve` with. */
export const BENCH_MASTER_KEY = "sk-bench-master"

/** An admin POST (route, JSON body) answering with the parsed JSON; throws unless it succeeded. */
export type AdminPost = (route: string, body: object) => Promise<any>

/** Admin POSTs over HTTP to a listening Inferline at `baseUrl`. */
export const fetchAdmin = (baseUrl: string): AdminPost => async (route, body) => {
  const res = await fetch(`${baseUrl}${route}`, { method: "POST", headers: { authorization: `Bearer ${BENCH_MASTER_KEY}`, "content-type": "application/json" }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`)
  return res.json()
}

/**
 * The team and key the gateway benchmarks send with, made through the admin API: limits on every axis
 * (so admission does its full work) and so high they never refuse; the key may use `models` (the mock
 * upstream's group by default).
 */
export const createBenchKey = async (admin: AdminPost, models: ReadonlyArray<string> = ["mock"]): Promise<string> => {
  const limits = { rpm_limit: 2e9, tpm_limit: 2e9, max_parallel_requests: 1e6 }
  const team = await admin("/admin/teams", limits)
  const { key } = await admin("/admin/keys", { team_id: team.id, models, ...limits })
  return key
}
