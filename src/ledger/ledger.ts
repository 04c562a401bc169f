import { Context, Data, Duration, Effect, Layer, Metric, Queue, Schedule, Semaphore } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as fs from "node:fs"
import * as path from "node:path"
import { DatabaseGuard } from "../db/database-guard.ts"
import type { DependencyUnavailable } from "../effect/dependency-guard.ts"
import { rateLimitedLog } from "../effect/rate-limited-log.ts"
import { journalDrain } from "./journal-drain.ts"
import { Journal, type JournalIncident, type JournalSync } from "./journal.ts"
import { insertEncodedSpendRows } from "./spend-store.ts"
import { encodeSpendRow, type SpendRow } from "./spend-row.ts"

/**
 * The spend ledger: one row per request, written to Postgres in batches so a thousand requests cost a
 * handful of statements, not a thousand (LiteLLM's spend-log writes are a known way to overload its
 * database). `record` returns once the row is journaled, never waiting for the database.
 */
export class Ledger extends Context.Service<Ledger, {
  /** Durable when it returns: a crash after this loses nothing (the journal is replayed at startup). */
  readonly record: (row: SpendRow) => Effect.Effect<void>
  /** Writes every journaled row to the database now (tests, shutdown). */
  readonly flush: Effect.Effect<void>
}>()("inferline/Ledger") {}

export interface LedgerOptions {
  /** Where the journal segments live (default `./.inferline/ledger`). */
  readonly journalDir: string
  /**
   * Rows that trigger a write (default 2000). Fewer, larger batches cost the database less per row, and
   * each write is a burst of work for a core the request path may need: at 1 connection, the
   * 1-connection p99 added by Inferline was 1.17-1.75 ms with 500 and 1.08-1.38 with 2000
   * (bench/gateway.ts, three alternating pairs).
   */
  readonly batchSize?: number
  /** Longest a row waits for its batch (default 1 s). */
  readonly flushInterval?: Duration.Input
  /**
   * "interval" (default): a row is written to the journal before the request is acknowledged (no loss
   * if the process is killed) and fsynced within 200 ms; "always": fsynced before (no loss on a machine
   * crash either, at the cost of an fsync per request group on the request path).
   */
  readonly journalSync?: JournalSync
}

export const DEFAULT_JOURNAL_DIR = "./.inferline/ledger"

/**
 * The ledger's settings from the environment: `INFERLINE_LEDGER_DIR`, `INFERLINE_LEDGER_FSYNC`
 * (`always` or the default `interval`), `INFERLINE_LEDGER_BATCH_ROWS` (default 2000) and
 * `INFERLINE_LEDGER_FLUSH_MS` (default 1000; LiteLLM's `proxy_batch_write_at` in milliseconds).
 */
export const ledgerOptionsFromEnv = (env: Record<string, string | undefined> = process.env): LedgerOptions => {
  const positive = (name: string): number | undefined => {
    const raw = env[name]
    if (raw === undefined || raw.trim() === "") return undefined
    const n = Number(raw)
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}: expected a positive whole number, got ${JSON.stringify(raw)}`)
    return n
  }
  const flushMs = positive("INFERLINE_LEDGER_FLUSH_MS")
  return {
    journalDir: env.INFERLINE_LEDGER_DIR || DEFAULT_JOURNAL_DIR,
    journalSync: env.INFERLINE_LEDGER_FSYNC === "always" ? "always" : "interval",
    batchSize: positive("INFERLINE_LEDGER_BATCH_ROWS"),
    flushInterval: flushMs === undefined ? undefined : Duration.millis(flushMs)
  }
}

/**
 * A request's row could not be journaled (a full disk, a directory that cannot be made again): the
 * request must not be acknowledged as if it were recorded. `record` dies with this; the HTTP layer
 * answers 503 `ledger_unavailable` (and the journal's own log says why, once per interval).
 */
export class JournalWriteError extends Data.TaggedError("JournalWriteError")<{
  /** The system error code (ENOSPC, EIO, EACCES, ...). */
  readonly code: string
  readonly message: string
}> {}

/** Where rows the database refuses for their data are set aside (one JSON line each), next to the journal. */
export const REJECTED_FILE = "rejected.jsonl"

/** SQLSTATE class 22 (data exception) or 23 (integrity constraint): the same rows fail again on retry. */
const refusesItsData = (error: SqlError.SqlError | DependencyUnavailable): error is SqlError.SqlError => {
  if (error._tag !== "SqlError") return false
  const code = (error.cause as { readonly cause?: { readonly code?: unknown } }).cause?.code
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("23"))
}

const rowsRejected = Metric.counter("ledger_rows_rejected_total", { description: "Ledger rows the database refused for their data, set aside in the journal directory's rejected.jsonl." })
const rowsWritten = Metric.counter("ledger_rows_written_total", { description: "Spend ledger rows written to the database." })
const writeFailures = Metric.counter("ledger_write_failures_total", { description: "Failed ledger batch writes (rows stay journaled and are retried)." })
const journalFailures = Metric.counter("ledger_journal_write_failures_total", { description: "Journal writes that failed (full disk, ...): their requests were refused with 503." })
const journalRecreations = Metric.counter("ledger_journal_recreated_total", { description: "Times the journal's file vanished under it (its directory deleted) and was written again." })

export const ledgerLayer = (options: LedgerOptions): Layer.Layer<Ledger, never, SqlClient.SqlClient> =>
  Layer.effect(Ledger, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const guard = yield* DatabaseGuard
    const batchSize = options.batchSize ?? 2000
    const log = rateLimitedLog()
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    // Rows as the journal encoded them (JSON lines): a batch is their concatenation. Through the
    // database's guard: a hung database fails the write after its timeout (the rows stay journaled and
    // are retried), and while it is known down the writer does not wait on it.
    const insert = (lines: ReadonlyArray<string>) => guard.run(insertEncodedSpendRows(lines)).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    const rejectedFile = path.join(options.journalDir, REJECTED_FILE)
    const reject = (line: string, error: SqlError.SqlError): Effect.Effect<void, SqlError.SqlError> =>
      Effect.sync(() => {
        fs.mkdirSync(options.journalDir, { recursive: true })
        fs.appendFileSync(rejectedFile, line + "\n")
      }).pipe(
        Effect.andThen(Metric.update(rowsRejected, 1)),
        Effect.andThen(Effect.logError(`ledger: a row the database refuses (${error.message}) was set aside in ${rejectedFile}`)),
        // Could not even set it aside: the row stays in its segment and is retried with it.
        Effect.catchDefect((e) => Effect.andThen(log("reject", "Error", `ledger: cannot set a refused row aside in ${rejectedFile}`, e), Effect.fail(error)))
      )
    /**
     * Writes a batch. One the database refuses for its data (SQLSTATE class 22 or 23) would be refused
     * on every retry and hold back every row after it, so it is split until the rows at fault are alone;
     * those are set aside in the rejected file (never replayed) and the rest are stored. Other failures
     * (connection, timeout) fail the write, and the batch is retried whole.
     */
    const write = (lines: ReadonlyArray<string>): Effect.Effect<void, SqlError.SqlError | DependencyUnavailable> =>
      insert(lines).pipe(Effect.catchIf(refusesItsData, (error) => {
        if (lines.length === 1) return reject(lines[0], error)
        const half = Math.ceil(lines.length / 2)
        return Effect.andThen(write(lines.slice(0, half)), write(lines.slice(half)))
      }))

    const onIncident = (incident: JournalIncident) => runFork(journalIncident(incident, options.journalDir, log))
    // Locks the directory (a second instance on it fails to start here, naming INFERLINE_LEDGER_DIR).
    const journal = yield* Effect.try({
      try: () => new Journal<SpendRow>(options.journalDir, encodeSpendRow, { sync: options.journalSync, onIncident, lockRemedy: "give each instance a directory of its own with INFERLINE_LEDGER_DIR" }),
      catch: (e) => e
    }).pipe(Effect.orDie)

    // A previous process's rows first: re-inserting one it had already stored is a no-op (ON CONFLICT).
    const leftover = journal.leftover()
    if (leftover.lines.length > 0) {
      yield* write(leftover.lines).pipe(Effect.retry({ times: 5, schedule: Schedule.exponential("200 millis") }), Effect.orDie)
      yield* Effect.logInfo(`ledger: replayed ${leftover.lines.length} journaled rows`)
    }
    // Segments are deleted in the thread pool (see Journal.remove); the writer waits for it, not the event loop.
    yield* Effect.callback<void>((resume) => leftover.remove(() => resume(Effect.void)))
    // Segments whose write failed are retried first (in order), kept on disk until stored.
    const flushOnce = journalDrain(
      journal,
      write,
      (e) => log("write", "Warning", "ledger: batch write failed; the rows stay journaled and are retried", e).pipe(Effect.andThen(Metric.update(writeFailures, 1))),
      (rows) => Metric.update(rowsWritten, rows)
    )
    // One writer: flushes never overlap, so the batches keep their order and their count stays small.
    const lock = yield* Semaphore.make(1)
    const flush = Semaphore.withPermit(lock)(flushOnce)

    // Wakes the writer early when a batch is full; a dropped wake-up is harmless (the timer follows).
    // Nothing may end the writer: a defect in one flush is logged, and the next one runs as usual.
    const wake = yield* Queue.sliding<void>(1)
    yield* Effect.forkScoped(Effect.forever(
      Queue.take(wake).pipe(
        Effect.timeoutOption(options.flushInterval ?? "1 second"),
        Effect.andThen(flush),
        Effect.catchCause((cause) => log("flush", "Error", "ledger: a flush failed; the rows stay journaled and are retried", cause))
      )
    ))
    yield* Effect.addFinalizer(() => flush.pipe(Effect.ignoreCause, Effect.andThen(Effect.sync(() => journal.close()))))

    const record = (row: SpendRow) =>
      Effect.callback<void>((resume) =>
        journal.append(row, (error) => {
          if (error !== undefined) {
            const code = (error as NodeJS.ErrnoException).code ?? "EIO"
            return resume(Effect.die(new JournalWriteError({ code, message: `the ledger's journal cannot be written (${code}: ${error.message})` })))
          }
          // A full batch wakes the writer early (an unbounded sliding queue of one: never blocks).
          resume(journal.size >= batchSize ? Effect.asVoid(Queue.offer(wake, undefined)) : Effect.void)
        })
      )
    return Ledger.of({ record, flush })
  }))

/** What the log and the metrics say about a journal incident. */
const journalIncident = (incident: JournalIncident, dir: string, log: ReturnType<typeof rateLimitedLog>): Effect.Effect<void> => {
  switch (incident._tag) {
    case "Recreated":
      return Effect.logError(
        `ledger: the journal's file in ${dir} was deleted while in use (the directory removed?); made it again and continued in ${incident.file}` +
          (incident.rows === 0 ? " (every row was stored already)" : `, rewriting the ${incident.rows} rows not yet stored into it`)
      ).pipe(Effect.andThen(Metric.update(journalRecreations, 1)))
    case "WriteFailed":
      return log("journal", "Error", `ledger: cannot write the journal in ${dir} (${incident.error.code ?? "error"}: ${incident.error.message}); requests are refused with 503 ledger_unavailable until it can`).pipe(
        Effect.andThen(Metric.update(journalFailures, 1))
      )
    case "Recovered":
      return Effect.logWarning(`ledger: the journal in ${dir} can be written again; requests are served`)
  }
}

/** A ledger that keeps nothing (no database configured, and in tests that do not look at spend). */
export const ledgerDisabledLayer: Layer.Layer<Ledger> = Layer.succeed(Ledger, Ledger.of({ record: () => Effect.void, flush: Effect.void }))

/** A Ledger that keeps rows in memory, for tests: what would have been written, in order. */
export const recordingLedger = (): { readonly rows: Array<SpendRow>; readonly layer: Layer.Layer<Ledger> } => {
  const rows: Array<SpendRow> = []
  return { rows, layer: Layer.succeed(Ledger, Ledger.of({ record: (row) => Effect.sync(() => void rows.push(row)), flush: Effect.void })) }
}
