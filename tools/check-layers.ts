/**
 * The import graph's one direction, checked: no import cycle among src/ files, and no import from a lower
 * layer to a higher one. Layers, bottom up (a file may import its own layer and the ones below):
 *   0  src/api (the OpenAI vocabulary), src/engine, src/effect, src/text, src/types
 *   1  src/actors, src/layers, src/db, src/ledger
 *   2  src/gateway, src/budgets, src/observability, src/cache
 *   3  src/router, src/guardrails, src/evaluation
 *   4  src/http
 *   5  src/cli.ts, src/cli, src/index.ts
 * Type-only imports count too: a type from a higher layer is still a dependency on it.
 *
 *   node tools/check-layers.ts          # prints the violations, exit 1 when there are any
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const LAYERS: ReadonlyArray<ReadonlyArray<string>> = [
  ["api", "engine", "effect", "text", "types"],
  ["actors", "layers", "db", "ledger"],
  ["gateway", "budgets", "observability", "cache"],
  ["router", "guardrails", "evaluation"],
  ["http"],
  ["cli.ts", "cli", "index.ts"]
]

/** The layer of a file under src (its first path segment), or undefined for one no layer names. */
export const layerOf = (src: string, file: string): number | undefined => {
  const top = path.relative(src, file).split(path.sep)[0]
  const i = LAYERS.findIndex((names) => names.includes(top))
  return i < 0 ? undefined : i
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']/g

const listFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? listFiles(p) : /\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : []
  })

/** Relative imports of every file under `src` that resolve to another file under it. */
export const importGraph = (src: string): Map<string, Array<string>> => {
  const files = listFiles(src)
  const known = new Set(files)
  const graph = new Map<string, Array<string>>()
  for (const file of files) {
    const targets: Array<string> = []
    for (const m of fs.readFileSync(file, "utf8").matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), m[1])
      if (known.has(target)) targets.push(target)
    }
    graph.set(file, targets)
  }
  return graph
}

/** Strongly connected components with more than one file (Tarjan). */
export const cyclesOf = (graph: ReadonlyMap<string, ReadonlyArray<string>>): Array<Array<string>> => {
  let next = 0
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>(), stack: Array<string> = []
  const cycles: Array<Array<string>> = []
  const visit = (v: string) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: Array<string> = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) cycles.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return cycles
}

/** Every problem with the graph under `src`, one line each (empty: the layering holds). */
export const layeringViolations = (src: string): Array<string> => {
  const graph = importGraph(src)
  const rel = (f: string) => path.relative(path.dirname(src), f)
  const problems: Array<string> = []
  for (const [file, targets] of graph) {
    const from = layerOf(src, file)
    if (from === undefined) {
      problems.push(`${rel(file)}: in no layer (add its folder to LAYERS in tools/check-layers.ts)`)
      continue
    }
    for (const target of targets) {
      const to = layerOf(src, target)
      if (to !== undefined && to > from) problems.push(`${rel(file)} (layer ${from}) imports ${rel(target)} (layer ${to}): an upward import`)
    }
  }
  for (const cycle of cyclesOf(graph)) problems.push(`import cycle of ${cycle.length} files: ${cycle.map(rel).join(", ")}`)
  return problems
}

if (import.meta.main) {
  const problems = layeringViolations(path.resolve(process.argv[2] ?? path.join(import.meta.dirname, "..", "src")))
  for (const p of problems) console.log(p)
  if (problems.length > 0) process.exit(1)
  console.log("layering holds: no cycles, no upward imports")
}
