import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { unitVector } from "../../../src/cache/semantic/embedder.ts"
import { makeSqlSemanticEntryStore } from "../../../src/cache/semantic/sql-semantic-entry-store.ts"
import { databaseBackends } from "../../gateway/support/databases.ts"

const entry = (id: string, partition: string, expiresAt: Date | null = null) => ({
  id, partition, embedder: "builtin", text: `query ${id}`, vector: unitVector([1, id.length, 0.5]), expiresAt
})

describe.each(databaseBackends)("semantic cache entries in SQL ($name)", ({ layer }) => {
  it("stores, reloads by seq, replaces, expires and deletes by id and by partition prefix", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const store = yield* makeSqlSemanticEntryStore
      yield* store.insert(entry("a", "key:1|gpt"))
      yield* store.insert(entry("bb", "key:1|llama"))
      yield* store.insert(entry("ccc", "key:2|gpt"))
      yield* store.insert(entry("gone", "key:2|gpt", new Date(Date.now() - 1000)))
      const all = yield* store.loadSince("builtin", 0, 100)
      expect(all.map((e) => e.id)).toEqual(["a", "bb", "ccc"])
      expect(Array.from(all[1].vector)).toEqual(Array.from(entry("bb", "").vector))
      expect(all[1].text).toBe("query bb")
      expect(yield* store.loadSince("other-embedder", 0, 100)).toEqual([])
      // A replaced entry comes back after the others: replicas polling by seq see it again.
      yield* store.insert({ ...entry("a", "key:1|gpt"), text: "new text" })
      const since = yield* store.loadSince("builtin", all[2].seq, 100)
      expect(since.map((e) => [e.id, e.text])).toEqual([["a", "new text"]])
      expect(yield* store.purgeExpired(new Date())).toBe(1)
      expect(yield* store.removePrefix("key:1|")).toBe(2)
      expect(yield* store.remove(["ccc", "nothing"])).toBe(1)
      expect(yield* store.loadSince("builtin", 0, 100)).toEqual([])
      // A prefix's LIKE wildcards are literal.
      yield* store.insert(entry("d", "key:x%y"))
      expect(yield* store.removePrefix("key:_")).toBe(0)
      expect(yield* store.removePrefix("key:x%")).toBe(1)
    })).pipe(Effect.provide(layer()))))
})
