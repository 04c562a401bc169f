import { Effect, Schedule, Scope } from "effect"
import { SqlClient } from "effect/sql"
import * as path from "node:path"
import { DatabaseGuard } from "../db/database-guard.ts"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import { Journal } from "../ledger/journal.ts"
import { journalDrain } from "../ledger/journal-drain.ts"
import type { ScoreSink } from "./evaluations.ts"
import type { Score } from "./score.ts"
import { encodeScore, insertEncodedScores } from "./score-store.ts"

/**
 * Scores are stored like ledger rows: journaled to disk first (a process killed at any moment loses no
 * score it made), then written to `evaluation_scores` in batches every second; a previous process's
 * journaled scores are stored at startup. The journal lives in `scores/` under the ledger's directory
 * (INFERLINE_LEDGER_DIR), locked like the ledger's. A database that is down only delays the writes.
 */
export const scoreJournalSink = (ledgerDir: string): Effect.Effect<ScoreSink, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const guard = yield* DatabaseGuard
    const log = rateLimitedLog()
    const journal = yield* Effect.try({
      try: () => new Journal<Score>(path.join(ledgerDir, "scores"), encodeScore, { lockRemedy: "give each instance a directory of its own with INFERLINE_LEDGER_DIR" }),
      catch: (e) => e
    }).pipe(Effect.orDie)
    const write = (lines: ReadonlyArray<string>) => guard.run(insertEncodedScores(lines)).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    const leftover = journal.leftover()
    if (leftover.lines.length > 0) {
      yield* write(leftover.lines).pipe(Effect.retry({ times: 5, schedule: Schedule.exponential("200 millis") }), Effect.orDie)
      yield* Effect.logInfo(`evaluation: stored ${leftover.lines.length} journaled scores of a previous run`)
    }
    yield* Effect.callback<void>((resume) => leftover.remove(() => resume(Effect.void)))

    const flush = journalDrain(journal, write, (e) => log("scores", "Warning", "evaluation: storing scores failed; they stay journaled and are retried", e))
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep("1 second"), flush)))
    yield* Effect.addFinalizer(() => flush.pipe(Effect.ignoreCause, Effect.andThen(Effect.sync(() => journal.close()))))

    // A score is acknowledged to no one, so the sink does not wait for its line: the scores of one batch
    // of the evaluation worker go to disk in one group commit (one write) instead of one each.
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const sink: ScoreSink = (scores) =>
      Effect.sync(() => {
        for (const score of scores) {
          journal.append(score, (error) => {
            if (error !== undefined) runFork(log("journal", "Error", `evaluation: score ${score.id} could not be journaled (${error.message})`, error))
          })
        }
      })
    return sink
  })
