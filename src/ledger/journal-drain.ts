import { Effect } from "effect"
import type { Journal, JournalSegment } from "./journal.ts"

/**
 * One flush of a journal into its store, in order: the segments whose write failed before come first
 * (kept on disk until stored), then what `rotate()` takes now. A failed write stops the flush (the next
 * one retries it, so the order holds); a stored segment is deleted in the thread pool (see
 * Journal.remove) before the next is written. The returned effect keeps the failed segments between
 * flushes: make one per journal, and never run two of its flushes at once.
 */
export const journalDrain = <E>(
  journal: Journal<any>,
  write: (lines: ReadonlyArray<string>) => Effect.Effect<void, E>,
  onFailure: (error: E) => Effect.Effect<void>,
  onStored: (rows: number) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<void> => {
  const unwritten: Array<JournalSegment> = []
  const remove = (segment: JournalSegment) => Effect.callback<void>((resume) => journal.remove(segment, () => resume(Effect.void)))
  return Effect.gen(function*() {
    const taken = journal.rotate()
    if (taken !== null) unwritten.push(taken)
    while (unwritten.length > 0) {
      const segment = unwritten[0]
      const ok = yield* write(segment.lines).pipe(Effect.as(true), Effect.catch((e) => Effect.as(onFailure(e), false)))
      if (!ok) return
      unwritten.shift()
      yield* remove(segment)
      yield* onStored(segment.lines.length)
    }
  })
}
