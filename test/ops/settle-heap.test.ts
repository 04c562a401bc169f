import * as v8 from "node:v8"
import * as vm from "node:vm"
import { describe, expect, it } from "vitest"
import { settleHeap } from "../../src/cli/settle-heap.ts"

const youngGenerationBytes = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.physical_space_size

describe("settleHeap (run once `inferline serve` has started)", () => {
  it("gives back the young generation startup grew, without exposing gc to the program", () => {
    // Allocation with many survivors, as module loading and a model load do, grows the young generation.
    let keep: Array<{ i: number; a: Array<number> }> = []
    for (let i = 0; i < 2e6; i++) {
      keep.push({ i, a: [i] })
      if (keep.length > 5e5) keep = []
    }
    keep = []
    const grown = youngGenerationBytes()
    expect(grown).toBeGreaterThan(8 * 2 ** 20)
    settleHeap()
    expect(youngGenerationBytes()).toBeLessThan(grown / 4)
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
    expect(vm.runInNewContext("typeof gc")).toBe("undefined")
  })
})
