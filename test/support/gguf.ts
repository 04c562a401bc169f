import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { repoRoot } from "./models.ts"

/**
 * GGUF files for tests, written at test time by tools/hf_to_gguf.py (Debian python3-numpy; the files are
 * too large to commit) into one temporary directory per test process.
 */
export const PYTHON = process.env.INFERLINE_PYTHON ?? "/usr/bin/python3"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-gguf-"))
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }))

export const tempPath = (name: string): string => path.join(tmp, name)

const python = (args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(PYTHON, args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } catch (e) {
    const err = e as { stderr?: string; message: string }
    throw new Error(`${PYTHON} ${args.join(" ")} failed (the GGUF tests need Debian's python3-numpy): ${err.stderr || err.message}`)
  }
}

const converted = new Map<string, string>()

/** The GGUF of a Hugging Face checkpoint directory in one of hf_to_gguf.py's --type values (cached). */
export const convertToGguf = (modelDir: string, type: string): string => {
  const key = `${modelDir}\0${type}`
  let out = converted.get(key)
  if (out === undefined) {
    out = tempPath(`${path.basename(modelDir)}-${converted.size}-${type}.gguf`)
    python(["tools/hf_to_gguf.py", modelDir, out, "--type", type, "--quiet"])
    converted.set(key, out)
  }
  return out
}

let randomDir: string | null = null

/** The SmolLM2-shaped random checkpoint of the GGUF goldens (tools/make_random_checkpoint.py, generated once). */
export const smollm2ShapedCheckpoint = (args: ReadonlyArray<string>): string => {
  if (randomDir === null) {
    randomDir = tempPath("smollm2-shaped")
    python(["tools/make_random_checkpoint.py", randomDir, ...args])
  }
  return randomDir
}

/** Runs tools/ggml_reference.py (ggml's own routines from node-llama-cpp's libggml-base). */
export const ggmlReference = (...args: ReadonlyArray<string>): string => python(["tools/ggml_reference.py", ...args])

export const sha256File = (file: string): string => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")

export const sha256Floats = (a: Float32Array): string =>
  crypto.createHash("sha256").update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest("hex")

export interface GgufGoldenCase {
  readonly name: string
  readonly input_ids: ReadonlyArray<number>
  readonly token_logprobs: ReadonlyArray<number>
  readonly greedy: ReadonlyArray<number>
  readonly margins: ReadonlyArray<number>
}

export interface GgufGoldenType {
  readonly gguf_sha256: string
  readonly tensor_types: Readonly<Record<string, string>>
  readonly dequantized_sha256: Readonly<Record<string, string>>
  readonly cases: ReadonlyArray<GgufGoldenCase>
}

export interface GgufGolden {
  readonly checkpoint: string
  readonly generator?: string
  readonly safetensors_sha256?: string
  readonly types: Readonly<Record<string, GgufGoldenType>>
}

/** test/fixtures/gguf/<name>.json, written by tools/make_gguf_goldens.py. */
export const ggufGolden = (name: string): GgufGolden =>
  JSON.parse(fs.readFileSync(path.join(repoRoot, "test", "fixtures", "gguf", `${name}.json`), "utf8"))
