import * as fs from "node:fs"
import * as path from "node:path"

/** Directories this process holds: a lock file with our own pid is ours only if it is in here. */
const heldHere = new Set<string>()

const LOCK_FILE = "inferline.lock"

/** How a lock's errors name the directory and what to do about a live owner. */
export interface DirectoryLockWording {
  /** e.g. "The data directory ./.inferline/pgdata". */
  readonly what: string
  /** e.g. "stop it or choose another data directory". */
  readonly remedy: string
}

/**
 * Locks a directory for this process: a lock file holding the owner's pid; a lock whose process is gone
 * is stale and taken over. A lock with our own pid that this process does not hold is stale too
 * (containers reuse pid 1 after a crash). Returns the release function; throws, with a message naming
 * the owner and `wording.remedy`, if a live process holds it.
 */
export const lockDirectory = (directory: string, wording: DirectoryLockWording): (() => void) => {
  const dir = path.resolve(directory)
  const file = path.join(dir, LOCK_FILE)
  if (heldHere.has(dir)) throw new Error(`${wording.what} is in use by process ${process.pid} (this one).`)
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
        throw new Error(`${wording.what} is in use by process ${owner}; ${wording.remedy} (if no Inferline is running, delete ${file}).`)
      }
      fs.rmSync(file, { force: true })
    }
  }
  throw new Error(`Could not lock ${wording.what.replace(/^The /, "the ")}.`)
}

/**
 * Puts back the lock file of a directory this process holds, after the directory was deleted and made
 * again under it. Throws if another live process has locked it meanwhile.
 */
export const restoreDirectoryLock = (directory: string): void => {
  const dir = path.resolve(directory)
  const file = path.join(dir, LOCK_FILE)
  if (!heldHere.has(dir)) throw new Error(`${dir} is not locked by this process`)
  try {
    fs.writeFileSync(file, String(process.pid), { flag: "wx" })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    const owner = Number(fs.readFileSync(file, "utf8"))
    if (owner !== process.pid && isAlive(owner)) throw new Error(`${dir} was taken over by process ${owner} while this one had lost it`)
    fs.writeFileSync(file, String(process.pid))
  }
}

/**
 * PGlite has no postmaster.pid: two processes opening one data directory would both write to it and
 * corrupt it, so the embedded database locks its directory (see lockDirectory).
 */
export const lockDataDir = (dataDir: string): (() => void) =>
  lockDirectory(dataDir, { what: `The data directory ${dataDir}`, remedy: "stop it or choose another data directory with INFERLINE_DATA_DIR (or share a Postgres with DATABASE_URL)" })

/**
 * The live process (other than this one) holding a directory's lock, if any: lets a command check
 * before it starts anything slow; the lock itself is still taken by lockDirectory.
 */
export const lockOwner = (directory: string): number | undefined => {
  let owner: number
  try {
    owner = Number(fs.readFileSync(path.join(path.resolve(directory), LOCK_FILE), "utf8"))
  } catch {
    return undefined
  }
  return Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner) ? owner : undefined
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}
