#!/usr/bin/env node
// The `inferline` command. The source is TypeScript run by Node's type stripping (on by default from
// Node 22.18). An older Node (e.g. a machine's Node 20 running this file directly) hands over to the
// Node 24 that the package pins through npm (node_modules/node), with the same arguments and stdio.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const [major, minor] = process.versions.node.split(".").map(Number)
const supported = major > 22 || (major === 22 && minor >= 18)

if (supported) {
  const { main } = await import("../src/cli.ts")
  main(process.argv.slice(2))
} else {
  const pinned = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url))
  if (!existsSync(pinned)) {
    console.error(`inferline needs Node >= 22.18 (this is ${process.version}); run \`npm ci\` in ${fileURLToPath(new URL("..", import.meta.url))} to install the pinned Node 24.`)
    process.exit(1)
  }
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" })
  // Ctrl+C reaches the child through the terminal's process group; a signal sent to this process only
  // (kill, a supervisor's SIGTERM) is passed on, and this process exits when the child does.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
