import type { ChildProcess } from "node:child_process"

/** Servers the fault tests started and that still run: killed if the test process exits without closing them. */
const live = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGCONT")
      child.kill("SIGKILL")
    } catch {}
  }
})

/** Registers a server process until it exits (see `live`). */
export const trackServer = (child: ChildProcess): void => {
  live.add(child)
  child.once("exit", () => live.delete(child))
}

/** Started and not yet exited (nor killed by a signal). */
export const isRunning = (child: ChildProcess | undefined): child is ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null
