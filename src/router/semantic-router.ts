import { Effect } from "effect"
import type { Engine } from "../actors/engine.ts"
import { cosine } from "../cache/semantic/embedder.ts"
import type { SemanticRoutingConfig } from "./config.ts"
import { ProviderError } from "./providers/provider.ts"

/**
 * Intent routing (opt-in, `semantic_routing` in the config): a request whose `model` is the semantic
 * router's name goes to the group of the route whose example utterances are closest to it (cosine
 * similarity of embeddings of the embedding group, which the router serves like a /v1/embeddings request:
 * its deployments with retries and cooldowns), when the best score reaches the route's threshold; else to
 * `default_group`. Utterances are embedded once, on first use.
 */
export interface SemanticRouter {
  readonly model: string
  /** The chosen group and route (route null: the default group). */
  readonly resolve: (body: Readonly<Record<string, unknown>>) => Effect.Effect<{ readonly group: string; readonly route: string | null }, ProviderError, Engine>
}

/** Embeds texts through the router (the embedding group's deployments), in their order. */
export type EmbedTexts = (input: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, ProviderError, Engine>

const unavailable = (message: string, detail?: string) =>
  new ProviderError({ kind: "unavailable", message: `Semantic routing failed: ${message}`, detail, code: "semantic_routing_unavailable" })

/** What the request says, for matching: the last user message (chat) or the prompt (completions). */
export const queryText = (body: Readonly<Record<string, unknown>>): string => {
  if (Array.isArray(body.messages)) {
    const user = [...body.messages].reverse().find((m) => (m as { role?: unknown })?.role === "user") as { content?: unknown } | undefined
    const content = user?.content
    return typeof content === "string" ? content : Array.isArray(content) ? content.map((p) => (p as { text?: string })?.text ?? "").join(" ") : ""
  }
  return typeof body.prompt === "string" ? body.prompt : Array.isArray(body.prompt) ? body.prompt.filter((p) => typeof p === "string").join(" ") : ""
}

/** The best route at or above its threshold, or null. */
export const bestRoute = <R extends { readonly threshold: number }>(query: ReadonlyArray<number>, routes: ReadonlyArray<{ readonly route: R; readonly embeddings: ReadonlyArray<ReadonlyArray<number>> }>): R | null => {
  let best: R | null = null
  let bestScore = -Infinity
  for (const { route, embeddings } of routes) {
    const score = Math.max(...embeddings.map((e) => cosine(query, e)))
    if (score >= route.threshold && score > bestScore) {
      best = route
      bestScore = score
    }
  }
  return best
}

/** The semantic router of a config; its embedding group has an OpenAI-compatible deployment (checked by parseRouterConfig). */
export const makeSemanticRouter = (config: SemanticRoutingConfig, embedTexts: EmbedTexts): SemanticRouter => {
    const embed = (input: ReadonlyArray<string>) =>
      embedTexts(input).pipe(
        Effect.mapError((e) => (e.code === "semantic_routing_unavailable" ? e : unavailable(e.code === "bad_embeddings" ? e.message : `the embedding deployment ${e.deployment ?? config.embeddingGroup} failed: ${e.message}`, e.detail)))
      )
    // Embedded once; a failure is not cached, so the next request tries again.
    let routes: ReadonlyArray<{ readonly route: SemanticRoutingConfig["routes"][number]; readonly embeddings: ReadonlyArray<ReadonlyArray<number>> }> | undefined
    const routeEmbeddings = Effect.suspend(() => {
      if (routes !== undefined) return Effect.succeed(routes)
      const all = config.routes.flatMap((r) => r.utterances)
      return Effect.map(embed(all), (vectors) => {
        let i = 0
        routes = config.routes.map((route) => ({ route, embeddings: route.utterances.map(() => vectors[i++]) }))
        return routes
      })
    })
    return {
      model: config.model,
      resolve: Effect.fnUntraced(function*(body: Readonly<Record<string, unknown>>) {
        const known = yield* routeEmbeddings
        const [query] = yield* embed([queryText(body)])
        const route = bestRoute(query, known)
        if (route !== null) return { group: route.group, route: route.name }
        if (config.defaultGroup !== undefined) return { group: config.defaultGroup, route: null }
        return yield* Effect.fail(new ProviderError({ kind: "bad_request", message: "No semantic route matched this request, and no default_group is configured.", param: "model", code: "no_route_matched" }))
      })
    }
}
