/**
 * Builds the library for consumers outside this repository (Node does not strip types under
 * node_modules): tsc emits dist/ from src/ (with .js imports), then the assets tsc does not copy.
 *
 *   npm run build
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
fs.rmSync(path.join(root, "dist"), { recursive: true, force: true })
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" })
for (const asset of ["engine/wasm/kernels.wasm"]) fs.copyFileSync(path.join(root, "src", asset), path.join(root, "dist", asset))
console.log("built dist/")
