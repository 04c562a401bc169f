/**
 * Assembles src/engine/wasm/*.wat into kernels.wasm with wabt (a dev dependency). The binary is committed
 * so that running Inferline needs no assembler; test/engine/wasm-kernels.test.ts rebuilds it and checks
 * that the committed bytes match their source.
 *
 *   node tools/build-wasm.ts          # writes src/engine/wasm/kernels.wasm
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const WAT_FILE = path.join(import.meta.dirname, "..", "src", "engine", "wasm", "matmul.wat")
export const WASM_FILE = path.join(import.meta.dirname, "..", "src", "engine", "wasm", "kernels.wasm")

export const assembleKernels = async (): Promise<Uint8Array> => {
  const wabt = await (await import("wabt")).default()
  const module = wabt.parseWat(path.basename(WAT_FILE), fs.readFileSync(WAT_FILE, "utf8"), { simd: true, threads: true })
  try {
    ;(module.validate as (features: object) => void)({ simd: true, threads: true })
    return module.toBinary({ write_debug_names: false }).buffer
  } finally {
    module.destroy()
  }
}

if (import.meta.main) {
  const bytes = await assembleKernels()
  fs.writeFileSync(WASM_FILE, bytes)
  console.log(`wrote ${WASM_FILE} (${bytes.length} bytes)`)
}
