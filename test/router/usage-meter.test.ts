import { describe, expect, it } from "vitest"
import { UsageMeter } from "../../src/api/usage-meter.ts"

describe("usage meter", () => {
  it("takes an upstream's usage only where it is a token count", () => {
    const m = new UsageMeter(10)
    expect(m.total).toBe(10) // the estimate until a provider reports
    m.setUsage({ prompt_tokens: 7, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 } })
    expect([m.promptTokens, m.completionTokens, m.cachedTokens, m.total]).toEqual([7, 3, 2, 10])
    // Strings, fractions, negatives, NaN and counts beyond a Postgres integer leave the last good value.
    for (const bad of ["12", 1.5, -1, Number.NaN, 1e12, null, { n: 1 }]) {
      m.setUsage({ prompt_tokens: bad, completion_tokens: bad, prompt_tokens_details: { cached_tokens: bad } })
      expect([m.promptTokens, m.completionTokens, m.cachedTokens, m.total]).toEqual([7, 3, 2, 10])
    }
    m.setUsage({ completion_tokens: 2_147_483_647 })
    expect(m.completionTokens).toBe(2_147_483_647)
  })
})
