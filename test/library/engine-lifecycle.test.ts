import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/models.ts"

// Nothing in the Engine layer leaks a non-Effect resource after its scope closes: the executor worker,
// the actor loop, the KV pools and the tensor arena all go with it.
describe("Engine layer lifecycle", () => {
  it("opening and closing the Engine layer 20 times returns handles to baseline and frees every engine", () => {
    const out = execFileSync(process.execPath, ["--expose-gc", path.join(repoRoot, "test/support/engine-lifecycle-probe.ts"), "20"], {
      encoding: "utf8",
      timeout: 120_000,
      // glibc keeps freed memory in per-thread arenas and raises its mmap threshold after large frees,
      // so RSS after a free says little. These make RSS track what the process really holds.
      env: { ...process.env, MALLOC_ARENA_MAX: "1", MALLOC_MMAP_THRESHOLD_: "131072" }
    })
    const { runs, collected, baseline, after } = JSON.parse(out.trim().split("\n").pop()!)
    expect(after.handles).toEqual(baseline.handles) // no worker, timer, socket or file left open
    expect(collected).toBe(runs) // every engine service (and what it closes over: core, KV pools, arena) was collected
    const MiB = 2 ** 20
    expect(after.heapUsed - baseline.heapUsed).toBeLessThan(4 * MiB)
    expect(after.external - baseline.external).toBeLessThan(4 * MiB)
    // V8 keeps some per-isolate and code caches after each worker; measured here about 2 MiB a run at
    // first, flattening after ~60 runs. A leaked model or KV pool would add 20+ MiB a run.
    expect(after.rss - baseline.rss).toBeLessThan(runs * 4 * MiB)
  })
})
