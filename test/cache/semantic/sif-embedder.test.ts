import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { cosine } from "../../../src/cache/semantic/embedder.ts"
import { makeSifEmbedder } from "../../../src/cache/semantic/sif-embedder.ts"
import { loadWordTable } from "../../../src/cache/semantic/word-table.ts"
import { wordsOf } from "../../../src/cache/semantic/words.ts"
import { checkTable } from "../../../tools/derive-word-vectors.ts"

const embed = (texts: ReadonlyArray<string>, embedder = makeSifEmbedder()) => Effect.runSync(embedder.embed(texts))

describe("the built-in SIF embedder", () => {
  it("gives the same unit vector for the same text, every time and from every instance", () => {
    const text = "How do I reverse a string in Python?"
    const [a, b] = embed([text, text])
    const [c] = embed([text], makeSifEmbedder())
    expect(Array.from(a)).toEqual(Array.from(b))
    expect(Array.from(a)).toEqual(Array.from(c))
    expect(a.length).toBe(100)
    expect(Math.abs(cosine(a, a) - 1)).toBeLessThan(1e-6)
    expect(Math.abs(cosine(a, c) - 1)).toBeLessThan(1e-6)
  })

  it("puts paraphrases closer than unrelated questions", () => {
    const [q, paraphrase, other] = embed(["What causes the seasons on Earth?", "Why does Earth have seasons?", "How do I bake sourdough bread?"])
    expect(cosine(q, paraphrase)).toBeGreaterThan(0.8)
    expect(cosine(q, other)).toBeLessThan(0.5)
  })

  it("gives unknown words their own stable vectors, so they do not vanish from the average", () => {
    const [a, b, a2] = embed(["install kubectlx", "install pytorchx", "install kubectlx"])
    expect(cosine(a, b)).toBeLessThan(0.9)
    expect(Array.from(a)).toEqual(Array.from(a2))
  })

  it("gives a text without words the zero vector, which matches nothing", () => {
    const [empty, text] = embed(["  ?! ", "hello there"])
    expect(Array.from(empty).every((x) => x === 0)).toBe(true)
    expect(cosine(empty, text)).toBe(0)
  })

  it("splits contractions as the vectors were trained", () => {
    expect(wordsOf("Why doesn't it work? I'm lost, it's Bob's")).toEqual(["why", "does", "not", "it", "work", "i", "am", "lost", "it", "bob"])
  })

  it("ships a word table that is exactly what tools/derive-word-vectors.ts derives from its two packages", () => {
    const table = loadWordTable()
    expect(table.size).toBeGreaterThan(100_000)
    expect(table.rowOf("the")).toBe(0)
    expect(checkTable()).toEqual([])
  })
})
