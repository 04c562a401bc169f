import { Effect, Exit, Stream } from "effect"
import type { ApiError } from "../api/api-error.ts"
import type { EvaluatorSpec } from "../evaluation/evaluator-spec.ts"
import { type CompletedAnswer, Evaluations } from "../evaluation/evaluations.ts"
import type { ObservedRequest } from "../observability/request-observer.ts"
import { queryText } from "../router/semantic-router.ts"
import { onStreamExit } from "../effect/stream-pull.ts"
import { CapturedOutput } from "./captured-output.ts"

type Answer =
  | { readonly _tag: "Stream"; readonly chunks: Stream.Stream<string, ApiError>; readonly headers: Readonly<Record<string, string>> }
  | { readonly _tag: "Complete"; readonly result: { readonly json: unknown }; readonly headers: Readonly<Record<string, string>> }

/** Who asked, for the score's row. */
export interface ScoredRequest {
  readonly requestId: string
  readonly modelGroup: string
  readonly keyId: string | null
  readonly teamId: string | null
  readonly endUser: string | null
  readonly body: Readonly<Record<string, unknown>>
  readonly observed: ObservedRequest
}

/** The first choice's text (evaluators score one answer; `n` > 1 answers are rare and alike). */
const firstText = (captured: CapturedOutput) => captured.messages[0]?.content ?? ""

/**
 * The answer as the client gets it, handed to the sampled evaluators once it is complete: a whole
 * answer at once, a stream when it ends well (a stream cut short or failed is not scored). Nothing
 * waits for the scoring (see Evaluations.submit).
 */
export const evaluatedAnswer = <A extends Answer>(answer: A, evaluators: ReadonlyArray<EvaluatorSpec>, request: ScoredRequest): Effect.Effect<A> =>
  evaluators.length === 0 ? Effect.succeed(answer) : Effect.flatMap(Evaluations, (evaluations) => {
  const submit = (captured: () => CapturedOutput) =>
    Effect.suspend(() => {
      const completed: CompletedAnswer = {
        requestId: request.requestId,
        modelGroup: request.modelGroup,
        deployment: answer.headers["x-inferline-deployment"] ?? null,
        keyId: request.keyId,
        teamId: request.teamId,
        endUser: request.endUser,
        text: () => ({ question: queryText(request.body), answer: firstText(captured()) }),
        span: request.observed.span
      }
      return evaluations.submit(completed, evaluators)
    })
  if (answer._tag === "Complete") {
    // Read off the response by the evaluation worker, after this request is answered.
    const json = answer.result.json
    return Effect.as(submit(() => {
      const captured = new CapturedOutput()
      captured.addResponse(json)
      return captured
    }), answer)
  }
  // The chunks are kept as they pass and parsed by the evaluation worker, not on the stream's path.
  const seen: Array<string> = []
  const chunks = answer.chunks.pipe(
    Stream.map((chunk) => {
      seen.push(chunk)
      return chunk
    }),
    onStreamExit((exit) =>
      Exit.isSuccess(exit)
        ? submit(() => {
          const captured = new CapturedOutput()
          for (const chunk of seen) captured.addChunk(chunk)
          return captured
        })
        : Effect.void)
  )
  return Effect.succeed({ ...answer, chunks })
})
