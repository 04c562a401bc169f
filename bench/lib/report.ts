import { execSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** Machine and commit a result was measured on: every bench JSON carries it. */
export const machineInfo = () => {
  let commit = "unknown", dirty = false
  try {
    commit = execSync("git rev-parse HEAD", { stdio: ["ignore", "pipe", "ignore"] }).toString().trim()
    dirty = execSync("git status --porcelain --untracked-files=no", { stdio: ["ignore", "pipe", "ignore"] }).toString().trim() !== ""
  } catch {}
  const cpus = os.cpus()
  return {
    commit,
    dirty,
    node: process.version,
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    mhz: cpus[0]?.speed ?? 0,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg(),
    date: new Date().toISOString()
  }
}

export interface Stats {
  readonly min: number
  readonly median: number
  readonly max: number
  readonly runs: ReadonlyArray<number>
}

export const stats = (xs: ReadonlyArray<number>): Stats => {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1], runs: xs }
}

/** Writes `bench/results/<name>-<timestamp>.json` and `<name>-latest.json`; returns the path. */
export const writeResult = (name: string, result: unknown): string => {
  const dir = path.join(import.meta.dirname, "..", "results")
  fs.mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, "-")
  const file = path.join(dir, `${name}-${stamp}.json`)
  const text = JSON.stringify(result, null, 2)
  fs.writeFileSync(file, text)
  fs.writeFileSync(path.join(dir, `${name}-latest.json`), text)
  return file
}
