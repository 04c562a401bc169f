import { describe, expect, it } from "vitest"
import { normalizedQuery } from "../../../src/cache/semantic/normalized-query.ts"

describe("normalizedQuery", () => {
  it("is the last user turn of a chat, whitespace collapsed, case kept", () => {
    expect(normalizedQuery({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "  What is\n the capital of France? " }] })).toBe("What is the capital of France?")
    expect(normalizedQuery({ messages: [{ role: "user", content: [{ type: "text", text: "Hello" }, { type: "text", text: "world" }] }] })).toBe("Hello world")
  })

  it("is the prompt of a completions request", () => {
    expect(normalizedQuery({ prompt: "Once upon a time" })).toBe("Once upon a time")
    expect(normalizedQuery({ prompt: ["Once upon a time"] })).toBe("Once upon a time")
  })

  it("is undefined for what cannot be matched by meaning", () => {
    expect(normalizedQuery({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "Sure:" }] })).toBeUndefined()
    expect(normalizedQuery({ messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: "data:" } }] }] })).toBeUndefined()
    expect(normalizedQuery({ prompt: ["a", "b"] })).toBeUndefined()
    expect(normalizedQuery({ prompt: [1, 2, 3] })).toBeUndefined()
    expect(normalizedQuery({ messages: [{ role: "user", content: "   " }] })).toBeUndefined()
    expect(normalizedQuery({ messages: [] })).toBeUndefined()
    expect(normalizedQuery({ messages: [null] })).toBeUndefined()
    expect(normalizedQuery({ prompt: "word ".repeat(65) })).toBeUndefined()
    expect(normalizedQuery({ prompt: "word ".repeat(65) }, { maxWords: 100 })).toBe("word ".repeat(65).trim())
  })
})
