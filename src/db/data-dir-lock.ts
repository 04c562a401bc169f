import * as fs from "node:fs"
import * as path from "node:path"

/** Directories this process holds: a lock file with our own pid is ours only if it is in here. */
const heldHere = new Set<string>()

/**
 * PGlite has no postmaster.pid: two processes opening one data directory would both write to it and
 * corrupt it. This lock file holds the owner's pid; a lock whose process is gone is stale and taken over.
 * A lock with our own pid that this process does not hold is stale too (containers reuse pid 1 after a
 * crash). Returns the release function.
 */
export const lockDataDir = (dataDir: string): (() => void) => {
  const dir = path.resolve(dataDir)
  const file = path.join(dir, "inferline.lock")
  if (heldHere.has(dir)) throw new Error(`The data directory ${dataDir} is in use by process ${process.pid} (this one).`)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" })
      heldHere.add(dir)
      return () => {
        heldHere.delete(dir)
        fs.rmSync(file, { force: true })
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      const owner = Number(fs.readFileSync(file, "utf8"))
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `The data directory ${dataDir} is in use by process ${owner}; stop it or choose another data directory ` +
            `(if no Inferline is running, delete ${file}).`
        )
      }
      fs.rmSync(file, { force: true })
    }
  }
  throw new Error(`Could not lock the data directory ${dataDir}.`)
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}
