import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** bin/inferline.js, run the way the README tells users to. */
export const INFERLINE_BIN = fileURLToPath(new URL("../../bin/inferline.js", import.meta.url))

export interface ServeProcess {
  readonly child: ChildProcess
  /** Everything the process printed so far (stdout and stderr). */
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/**
 * `inferline serve ARGS` as a child process with its own embedded database directory and ledger journal
 * directory (unless env says otherwise): a journal directory is locked by the process using it, so
 * servers started side by side (replicas, test files running in parallel) each need their own.
 */
export const spawnServe = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}): ServeProcess => {
  const child = spawn(process.execPath, [INFERLINE_BIN, "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      INFERLINE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "inferline-cli-db-")),
      INFERLINE_LEDGER_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "inferline-cli-ledger-")),
      ...env
    }
  })
  let out = ""
  child.stdout!.on("data", (d) => (out += d))
  child.stderr!.on("data", (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => out, exited }
}

/** The URL the server printed once it listens (`Serving model 'NAME' at URL`). */
export const servedUrl = (serve: ServeProcess, timeoutMs = 60_000): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    const found = () => /Serving model(?: groups)? '[^']+'(?: \(gateway only\))? at (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output())?.[1]
    const timer = setTimeout(() => reject(new Error(`no URL printed:\n${serve.output()}`)), timeoutMs)
    const check = () => {
      const url = found()
      if (url !== undefined) {
        clearTimeout(timer)
        resolve(url)
      }
    }
    serve.child.stdout!.on("data", check)
    void serve.exited.then(() => reject(new Error(`the server exited:\n${serve.output()}`)))
    check()
  })

/** Polls `condition` every 50 ms until it holds or `timeoutMs` passes (then fails with `what`). */
export const waitFor = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
