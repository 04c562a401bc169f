import { Effect, Schedule } from "effect"
import { langfuseTargetFromEnv, sendLangfuseScore } from "./langfuse-scores.ts"
import type { ScoreSink } from "./evaluations.ts"
import type { Score } from "./score.ts"

/**
 * Scores to Langfuse's score API when LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set: each score in
 * a detached fiber, retried with backoff for about a minute (Langfuse down for a moment loses nothing;
 * the score's id makes a repeat harmless), then logged and given up.
 */
export const langfuseSink = (env: Record<string, string | undefined> = process.env): ScoreSink | undefined => {
  const target = langfuseTargetFromEnv(env)
  if (target === undefined) return undefined
  const send = (score: Score) =>
    sendLangfuseScore(target, score).pipe(
      Effect.retry({ schedule: Schedule.exponential("500 millis"), times: 6 }),
      Effect.catch((e) => Effect.logWarning(`evaluation: Langfuse did not take score ${score.id}: ${e.message}`)),
      Effect.forkDetach
    )
  return (scores) => Effect.forEach(scores.filter((s) => s.traceId !== null), send, { discard: true })
}

/** The sinks `inferline serve` gives evaluations, from the environment. */
export const scoreSinksFromEnv = (env: Record<string, string | undefined> = process.env): ReadonlyArray<ScoreSink> =>
  [langfuseSink(env)].filter((s): s is ScoreSink => s !== undefined)
