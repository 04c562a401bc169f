import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { layeringViolations } from "../../tools/check-layers.ts"

const SRC = fileURLToPath(new URL("../../src", import.meta.url))

/** A throwaway source tree: file path -> contents. */
const tree = (files: Record<string, string>) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "layers-"))
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true })
    fs.writeFileSync(path.join(root, file), text)
  }
  return root
}

describe("the import graph runs one way", () => {
  it("src/ has no import cycle and no import from a lower layer to a higher one", () => {
    expect(layeringViolations(SRC)).toEqual([])
  })

  it("the check finds an upward import, a cycle and a file in no layer", () => {
    const root = tree({
      "engine/kernel.ts": `import { route } from "../http/route.ts"\nexport const kernel = 1\n`,
      "http/route.ts": `export const route = 1\n`,
      "router/a.ts": `import type { B } from "./b.ts"\nexport type A = 1\n`,
      "router/b.ts": `import { a } from "./a.ts"\nexport type B = 2\n`,
      "misc/stray.ts": `export const x = 1\n`
    })
    const problems = layeringViolations(root)
    expect(problems.some((p) => /engine\/kernel\.ts \(layer 0\) imports .*http\/route\.ts \(layer 4\): an upward import/.test(p))).toBe(true)
    expect(problems.some((p) => /import cycle of 2 files: .*router\/a\.ts, .*router\/b\.ts/.test(p))).toBe(true)
    expect(problems.some((p) => /misc\/stray\.ts: in no layer/.test(p))).toBe(true)
    fs.rmSync(root, { recursive: true, force: true })
  })
})
