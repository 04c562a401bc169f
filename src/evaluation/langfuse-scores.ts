import { Effect } from "effect"
import type { Score } from "./score.ts"

/**
 * Langfuse's score API (POST {host}/api/public/scores, Basic auth with the project's public and secret
 * keys), with the variables Langfuse's own SDKs read: LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and
 * LANGFUSE_BASE_URL (or LANGFUSE_HOST; default https://cloud.langfuse.com). A score names the request's
 * trace and span, which Langfuse knows from the OTLP export of the same request, and carries the
 * score's id, so a score sent twice is stored once.
 */
export interface LangfuseTarget {
  readonly url: string
  readonly authorization: string
}

export const langfuseTargetFromEnv = (env: Record<string, string | undefined> = process.env): LangfuseTarget | undefined => {
  const pk = env.LANGFUSE_PUBLIC_KEY, sk = env.LANGFUSE_SECRET_KEY
  if (pk === undefined || pk === "" || sk === undefined || sk === "") return undefined
  const host = (env.LANGFUSE_BASE_URL || env.LANGFUSE_HOST || "https://cloud.langfuse.com").replace(/\/+$/, "")
  return { url: `${host}/api/public/scores`, authorization: `Basic ${Buffer.from(`${pk}:${sk}`).toString("base64")}` }
}

/** The score API's body for a score (trace-less scores are not sent: Langfuse needs a trace). */
export const langfuseScoreBody = (score: Score) => ({
  id: score.id,
  traceId: score.traceId,
  ...(score.spanId !== null && { observationId: score.spanId }),
  name: score.evaluator,
  value: score.value,
  dataType: "NUMERIC",
  comment: score.comment
})

/** Sends one score; fails with the reason (the caller retries and logs). */
export const sendLangfuseScore = (target: LangfuseTarget, score: Score) =>
  Effect.tryPromise({
    try: async () => {
      const r = await fetch(target.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: target.authorization },
        body: JSON.stringify(langfuseScoreBody(score)),
        signal: AbortSignal.timeout(10_000)
      })
      if (!r.ok) throw new Error(`Langfuse answered ${r.status}: ${(await r.text()).slice(0, 200)}`)
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })
