import * as fs from "node:fs"
import * as path from "node:path"

export const repoRoot = path.join(import.meta.dirname, "..", "..")

/** The bundled demo model directory. */
export const bundledModelDir = path.join(repoRoot, "models", "inferline-kjv")
export const draftModelDir = path.join(repoRoot, "models", "inferline-kjv-draft")

/** The bundled model once it is complete, else the draft (same tokenizer). */
export const testModelDir = (): string =>
  fs.existsSync(path.join(bundledModelDir, "model.safetensors")) ? bundledModelDir : draftModelDir
