import { describe, expect, it } from "vitest"
import { sameMeaningGuard } from "../../../src/cache/semantic/same-meaning-guard.ts"

const reason = (a: string, b: string) => {
  const v = sameMeaningGuard(a, b)
  return v.same ? "same" : v.reason
}

describe("sameMeaningGuard", () => {
  it("rejects a changed negation or a reversed particle", () => {
    expect(reason("Turn on the light", "Turn off the light")).toBe("opposite")
    expect(reason("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?")).toBe("negation")
    expect(reason("Why does my code work?", "Why doesn't my code work?")).toBe("negation")
    expect(reason("I want a recipe with dairy.", "I want a recipe without dairy.")).toBe("negation")
  })

  it("rejects changed numbers, digits or words, and takes a written number for its digits", () => {
    expect(reason("I have 3 apples", "I have 5 apples")).toBe("number")
    expect(reason("I have three apples", "I have five apples")).toBe("number")
    expect(reason("I have 3 apples", "I have three apples")).toBe("same")
    expect(reason("I'm twenty-five, how much should I save?", "I'm 25, how much should I save?")).toBe("same")
    expect(reason("What is the 5th planet from the sun?", "What is the fifth planet from the sun?")).toBe("same")
    expect(reason("How do I install Python 3.11?", "How do I install Python 3.12?")).toBe("number")
    expect(reason("Install Python 3.10", "Install Python 3.1")).toBe("number")
    expect(reason("Convert 1,000 dollars", "Convert 1000 dollars")).toBe("same")
  })

  it("rejects changed units, and a conversion turned around", () => {
    expect(reason("How long does it take to walk 5 km?", "How long does it take to walk 5 miles?")).toBe("unit")
    expect(reason("How long does it take to walk 5 km?", "How long does it take to walk 5 kilometres?")).toBe("same")
    expect(reason("Convert 5 miles to km", "Convert 5 km to miles")).toBe("unit")
    expect(reason("Convert 5 miles to km", "Please convert 5 miles into km.")).toBe("same")
    expect(reason("Is $50 a lot?", "Is 50 euros a lot?")).toBe("unit")
    expect(reason("Should I take 200mg?", "Should I take 200 mg?")).toBe("same")
  })

  it("rejects changed names, acronyms and identifiers", () => {
    expect(reason("What is the capital of France?", "What is the capital of Germany?")).toBe("entity")
    expect(reason("Tell me about Paris", "Tell me about Berlin")).toBe("entity")
    expect(reason("Is AWS cheaper than GCP?", "Is AWS cheaper than Azure?")).toBe("entity")
    expect(reason("What does os.path.join do?", "What does os.path.split do?")).toBe("entity")
    // Lowercase names are caught as substituted content words.
    expect(reason("what is the capital of france", "what is the capital of germany")).toBe("substitution")
    expect(reason("Paris is lovely in spring?", "Berlin is lovely in spring?")).toBe("substitution")
  })

  it("rejects different quoted strings and code spans", () => {
    expect(reason('What does "ephemeral" mean?', 'What does "ethereal" mean?')).toBe("quoted")
    expect(reason("What does `git stash pop` do?", "What does `git stash apply` do?")).toBe("quoted")
    expect(reason('What does "ephemeral" mean?', 'What is the meaning of "ephemeral"?')).toBe("same")
  })

  it("rejects swapped roles and substituted content words", () => {
    expect(reason("Flights from Paris to Berlin", "Flights from Berlin to Paris")).toBe("role")
    expect(reason("How do I convert a string to an integer in Java?", "How do I convert an integer to a string in Java?")).toBe("role")
    expect(reason("Is Java faster than Python?", "Is Python faster than Java?")).toBe("role")
    expect(reason("How do I reverse a list in Python?", "How do I sort a list in Python?")).toBe("substitution")
    expect(reason("What are good exercises for back pain?", "What are good exercises for knee pain?")).toBe("substitution")
  })

  it("lets paraphrases through", () => {
    expect(reason("How do I reverse a string in Python?", "What's the way to reverse a string in Python?")).toBe("same")
    expect(reason("Could you tell me what the capital of Japan is?", "What is the capital of Japan?")).toBe("same")
    expect(reason("How can I clear Chrome's cache?", "How do I clear the cache in Chrome?")).toBe("same")
    expect(reason("Explain recursion to a beginner.", "Explain recursion for a beginner.")).toBe("same")
    expect(reason("how do i make pancakes", "How do I make pancakes?")).toBe("same")
  })
})
