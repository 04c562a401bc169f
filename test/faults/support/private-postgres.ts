import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort, sleep, waitForPort } from "../../support/free-port.ts"
import { isRunning, trackServer } from "./server-processes.ts"

/** The newest PostgreSQL server binaries installed (Debian's layout). */
const pgBin = (name: string): string => {
  const root = "/usr/lib/postgresql"
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  for (const v of versions) {
    const file = path.join(root, v, "bin", name)
    if (fs.existsSync(file)) return file
  }
  throw new Error(`PostgreSQL's ${name} not found under ${root}`)
}

/** initdb and postgres refuse to run as root: as root, run them as the `postgres` system user. */
const runAs = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim())
  return { uid: id("-u"), gid: id("-g") }
}

/**
 * A PostgreSQL server of the test's own: its own data directory (a temp dir), its own port, so a test
 * can stop, kill, freeze (SIGSTOP) and thaw (SIGCONT) it by pid, backends included, without touching the
 * machine's shared instance on 5432. Trust auth, user `postgres`, database `test`.
 */
export class PrivatePostgres {
  readonly dir: string
  readonly port: number
  private child: ChildProcess | undefined
  private readonly user = runAs()

  private constructor(dir: string, port: number) {
    this.dir = dir
    this.port = port
  }

  /** initdb (about 0.6 s) and start; the database `test` exists when this resolves. */
  static async create(): Promise<PrivatePostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-pg-"))
    const pg = new PrivatePostgres(dir, await freePort())
    if (pg.user !== undefined) fs.chownSync(dir, pg.user.uid, pg.user.gid)
    const init = spawnSync(pgBin("initdb"), ["-D", pg.dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"], { encoding: "utf8", ...pg.user })
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
    await pg.start()
    pg.psql("CREATE DATABASE test", "postgres")
    return pg
  }

  get dataDir(): string {
    return path.join(this.dir, "data")
  }

  /** The postmaster's pid. */
  get pid(): number {
    if (this.child?.pid === undefined) throw new Error("postgres is not running")
    return this.child.pid
  }

  url(database = "test"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  get running(): boolean {
    return isRunning(this.child)
  }

  /** Starts the server (again, after `stop` or `kill`); a no-op while it runs. */
  async start(): Promise<void> {
    if (this.running) return
    const child = spawn(pgBin("postgres"), [
      "-D", this.dataDir, "-p", String(this.port), "-k", this.dir, "-c", "listen_addresses=127.0.0.1",
      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=60", "-c", "shared_buffers=16MB"
    ], { detached: true, stdio: ["ignore", "ignore", "pipe"], ...this.user })
    let log = ""
    child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)))
    this.child = child
    trackServer(child)
    const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`postgres exited (${code}): ${log}`))))
    await Promise.race([waitForPort(this.port, 30_000), exited])
    // Accepting connections is not accepting queries yet (startup recovery after a kill).
    for (let i = 0; i < 100; i++) {
      if (spawnSync("pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(this.port)]).status === 0) return
      await sleep(100)
    }
    throw new Error(`postgres on ${this.port} never became ready: ${log}`)
  }

  /** A fast shutdown (SIGINT: sessions are disconnected), waited for. */
  stop(): Promise<void> {
    return this.signalAndWait("SIGINT")
  }

  /** SIGKILL to the server and every process it forked: all vanish at once. */
  kill(): Promise<void> {
    if (this.child?.pid !== undefined) for (const pid of childrenOf(this.child.pid)) signal(pid, "SIGKILL")
    return this.signalAndWait("SIGKILL")
  }

  /**
   * SIGSTOP to the postmaster, then to every process it forked (backends make themselves session
   * leaders, so its process group does not reach them): every backend hangs mid-whatever with its
   * connections open, and new connections are accepted by the kernel and never answered.
   */
  freeze(): void {
    process.kill(this.pid, "SIGSTOP")
    for (const pid of childrenOf(this.pid)) signal(pid, "SIGSTOP")
  }

  thaw(): void {
    for (const pid of childrenOf(this.pid)) signal(pid, "SIGCONT")
    process.kill(this.pid, "SIGCONT")
  }

  /** One statement through psql; the output rows (unaligned, tuples only). */
  psql(statement: string, database = "test"): string {
    const r = spawnSync("psql", ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(this.port), "-U", "postgres", "-d", database, "-c", statement], { encoding: "utf8", timeout: 30_000 })
    if (r.status !== 0) throw new Error(`psql ${JSON.stringify(statement)}: ${r.stderr}`)
    return r.stdout.trim()
  }

  /**
   * An open psql session holding `statement` (e.g. a transaction that LOCKs a table) until released:
   * resolves once the statement has run.
   */
  async hold(statement: string, database = "test"): Promise<{ readonly release: () => Promise<void> }> {
    const child = spawn("psql", ["-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", String(this.port), "-U", "postgres", "-d", database], { stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    child.stdin.write(`${statement}\nSELECT 'held';\n`)
    for (let i = 0; !out.includes("held"); i++) {
      if (i > 300) throw new Error(`psql session never got hold: ${out}`)
      await sleep(50)
    }
    return {
      release: () =>
        new Promise<void>((resolve) => {
          child.once("exit", () => resolve())
          child.stdin.end("ROLLBACK;\n\\q\n")
        })
    }
  }

  /** Stops the server (at once) and deletes its directory. */
  async close(): Promise<void> {
    if (this.running) {
      this.thaw()
      await this.kill()
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
  }

  private signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    if (!isRunning(child)) return Promise.resolve()
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    process.kill(child.pid!, signal)
    return exited.then(() => sleep(50))
  }
}

/** The pids of a process's children (the postmaster's: its backends and auxiliary processes). */
const childrenOf = (pid: number): Array<number> =>
  spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).stdout.split("\n").map((s) => Number(s.trim())).filter((n) => n > 0)

const signal = (pid: number, name: NodeJS.Signals) => {
  try {
    process.kill(pid, name)
  } catch {
    // gone meanwhile
  }
}
