import { describe, expect, it } from "vitest"
import { numberRange, type Bound } from "../../../src/engine/guided/json-number.ts"
import { compile, crossingVocab, accepts } from "./support.ts"

const JSON_NUMBER_WITHOUT_EXPONENT = /^-?(0|[1-9]\d*)(\.\d+)?$/

/** Candidate texts: integers, decimals with one and two places, and malformed numbers. */
const candidates = (): Array<string> => {
  const out: Array<string> = ["-0", "00", "01", "1.", ".5", "-0.0", "0.0", "1e3", "-", "", "+1", "1.2.3", "--1"]
  for (const center of [0, 100, 1000]) for (let i = center - 30; i <= center + 30; i++) out.push(String(i), String(-i))
  for (let i = -300; i <= 300; i++) out.push((i / 100).toFixed(2), (i / 100).toFixed(1), String(i / 100))
  return out
}

describe("number ranges", () => {
  it("accept exactly the numbers (no exponent, no -0) within every combination of bounds", () => {
    const texts = candidates()
    let grammars = 0
    for (const integer of [true, false]) {
      for (const lo of [null, -1000, -5.5, -1, 0, 0.25, 3, 17]) {
        for (const hi of [null, -2, 0, 0.75, 5, 99.5, 1000]) {
          for (const loInclusive of [true, false]) {
            for (const hiInclusive of [true, false]) {
              const min: Bound | null = lo === null ? null : { value: lo, inclusive: loInclusive }
              const max: Bound | null = hi === null ? null : { value: hi, inclusive: hiInclusive }
              const inRange = (v: number) => (min === null || (min.inclusive ? v >= min.value : v > min.value)) && (max === null || (max.inclusive ? v <= max.value : v < max.value))
              const anyInRange = texts.some((t) => JSON_NUMBER_WITHOUT_EXPONENT.test(t) && !/^-0(\.0+)?$/.test(t) && (!integer || !t.includes(".")) && inRange(Number(t)))
              let g
              try {
                g = compile({ root: "root", rules: new Map([["root", numberRange(integer, min, max)]]) }, crossingVocab)
              } catch (e) {
                // Only an empty range may be refused.
                expect(anyInRange, `${integer} [${lo}, ${hi}] refused: ${(e as Error).message}`).toBe(false)
                continue
              }
              grammars++
              for (const t of texts) {
                const expected = JSON_NUMBER_WITHOUT_EXPONENT.test(t) && !/^-0(\.0+)?$/.test(t) && (!integer || !t.includes(".")) && inRange(Number(t))
                expect(accepts(g, t), `${integer ? "integer" : "number"} ${JSON.stringify(min)}..${JSON.stringify(max)} on ${JSON.stringify(t)}`).toBe(expected)
              }
            }
          }
        }
      }
    }
    expect(grammars).toBeGreaterThan(150)
  })
})
