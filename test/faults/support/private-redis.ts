import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort, sleep, waitForPort } from "../../support/free-port.ts"
import { isRunning, trackServer } from "./server-processes.ts"

/**
 * A Redis server of the test's own (another port, no persistence, its own process group), so a test can
 * stop, kill, freeze (SIGSTOP) and thaw (SIGCONT) it without touching the machine's shared one on 6379.
 */
export class PrivateRedis {
  readonly port: number
  private readonly dir: string
  private child: ChildProcess | undefined

  private constructor(port: number, dir: string) {
    this.port = port
    this.dir = dir
  }

  static async create(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), "inferline-redis-")))
    await redis.start()
    return redis
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error("redis is not running")
    return this.child.pid
  }

  get running(): boolean {
    return isRunning(this.child)
  }

  /** Starts the server (again, after `kill`); a no-op while it runs. */
  async start(): Promise<void> {
    if (this.running) return
    const child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir], {
      detached: true,
      stdio: "ignore"
    })
    this.child = child
    trackServer(child)
    await waitForPort(this.port, 15_000)
  }

  /** SIGKILL: connections reset, nothing listens until `start`. */
  async kill(): Promise<void> {
    const child = this.child
    if (!isRunning(child)) return
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    process.kill(-child.pid!, "SIGKILL")
    await exited
    await sleep(20)
  }

  freeze(): void {
    process.kill(-this.pid, "SIGSTOP")
  }

  thaw(): void {
    process.kill(-this.pid, "SIGCONT")
  }

  async close(): Promise<void> {
    if (this.running) {
      try {
        process.kill(-this.pid, "SIGCONT")
      } catch {}
      await this.kill()
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}
