import { Effect } from "effect"

/**
 * Sends an alert to a webhook without making anyone wait: in a detached fiber, retried twice, with a
 * 10 s timeout, a failure only logged. `json` posts the alert object as it is; `slack` posts Slack's
 * incoming-webhook shape (`{"text": ...}`), which Slack, Mattermost and Teams' Slack-compatible hooks take.
 */
export type WebhookFormat = "json" | "slack"

/** `slack` when the URL is a Slack incoming webhook, unless a format is configured. */
export const webhookFormatOf = (url: string, configured: string | undefined): WebhookFormat => {
  if (configured === "json" || configured === "slack") return configured
  try {
    return new URL(url).hostname === "hooks.slack.com" ? "slack" : "json"
  } catch {
    return "json"
  }
}

export const postAlert = (url: string, format: WebhookFormat, alert: Readonly<Record<string, unknown>>, text: string) =>
  Effect.tryPromise(() =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(format === "slack" ? { text } : alert),
      signal: AbortSignal.timeout(10_000)
    }).then((r) => {
      if (!r.ok) throw new Error(`webhook answered ${r.status}`)
    })
  ).pipe(
    Effect.retry({ times: 2 }),
    Effect.catch((e) => Effect.logWarning(`alert webhook ${new URL(url).host} failed: ${String(e)}`)),
    Effect.forkDetach,
    Effect.asVoid
  )
