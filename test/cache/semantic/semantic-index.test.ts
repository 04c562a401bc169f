import { describe, expect, it } from "vitest"
import { unitVector } from "../../../src/cache/semantic/embedder.ts"
import { SemanticIndex } from "../../../src/cache/semantic/semantic-index.ts"

const v = (...xs: Array<number>) => unitVector(xs)
const entry = (id: string, partition: string, vector: Float32Array) => ({ id, partition, text: id, vector })

describe("SemanticIndex", () => {
  it("finds the nearest entries of the query's partition only, best first, above the similarity floor", () => {
    const index = new SemanticIndex(3, 100)
    index.add(entry("a1", "team-a", v(1, 0, 0)))
    index.add(entry("a2", "team-a", v(1, 1, 0)))
    index.add(entry("a3", "team-a", v(0, 0, 1)))
    index.add(entry("b1", "team-b", v(1, 0.01, 0)))
    const found = index.nearest("team-a", v(1, 0.1, 0), 5, 0.5)
    expect(found.map((c) => c.id)).toEqual(["a1", "a2"])
    expect(found[0].similarity).toBeGreaterThan(found[1].similarity)
    expect(index.nearest("team-a", v(1, 0.1, 0), 1, 0.5).map((c) => c.id)).toEqual(["a1"])
    expect(index.nearest("team-b", v(1, 0.1, 0), 5, 0.5).map((c) => c.id)).toEqual(["b1"])
    expect(index.nearest("team-c", v(1, 0, 0), 5, 0)).toEqual([])
  })

  it("replaces an entry with the same id, and keeps slots right when entries are removed", () => {
    const index = new SemanticIndex(2, 100)
    for (let i = 0; i < 40; i++) index.add(entry(`e${i}`, "p", v(Math.cos(i / 10), Math.sin(i / 10))))
    index.add(entry("e5", "p", v(-1, 0)))
    expect(index.size).toBe(40)
    for (let i = 0; i < 40; i += 3) expect(index.remove(`e${i}`)).toBe(true)
    expect(index.remove("e0")).toBe(false)
    // Every remaining entry is still found by its own vector.
    for (let i = 1; i < 40; i++) {
      if (i % 3 === 0) continue
      const own = i === 5 ? v(-1, 0) : v(Math.cos(i / 10), Math.sin(i / 10))
      expect(index.nearest("p", own, 1, 0.999)[0]?.id).toBe(`e${i}`)
    }
  })

  it("evicts the least recently used entry beyond its bound, counting touches", () => {
    const index = new SemanticIndex(2, 3)
    index.add(entry("old", "p", v(1, 0)))
    index.add(entry("mid", "p", v(0, 1)))
    index.add(entry("new", "q", v(1, 1)))
    index.touch("old")
    index.add(entry("newest", "q", v(1, -1)))
    expect(index.size).toBe(3)
    expect(index.nearest("p", v(0, 1), 5, 0.9)).toEqual([])
    expect(index.nearest("p", v(1, 0), 5, 0.9).map((c) => c.id)).toEqual(["old"])
  })

  it("clears one partition, or every partition under a prefix", () => {
    const index = new SemanticIndex(2, 100)
    index.add(entry("1", "key:a|gpt", v(1, 0)))
    index.add(entry("2", "key:a|llama", v(1, 0)))
    index.add(entry("3", "key:b|gpt", v(1, 0)))
    expect(index.clearPartition("key:a|gpt")).toBe(1)
    expect(index.clearPrefix("key:a|")).toBe(1)
    expect(index.size).toBe(1)
    expect(index.nearest("key:b|gpt", v(1, 0), 5, 0).map((c) => c.id)).toEqual(["3"])
    expect(index.clearPrefix("")).toBe(1)
    expect(index.size).toBe(0)
  })

  it("refuses vectors of another length", () => {
    const index = new SemanticIndex(2, 10)
    expect(() => index.add(entry("x", "p", v(1, 0, 0)))).toThrow(/3 dimensions, the index 2/)
  })
})
