import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { lockOwner } from "../db/data-dir-lock.ts"
import { DEFAULT_DATA_DIR } from "../db/database.ts"
import { ModelLoadError } from "../engine/errors.ts"
import { findGgufFile } from "../engine/gguf/gguf-model.ts"
import { readModelConfig } from "../engine/model-dir.ts"
import { DEFAULT_JOURNAL_DIR } from "../ledger/ledger.ts"

/** A reason `inferline serve` cannot start, found before anything slow (database, model) has started. */
export class StartupError extends Error {}

/**
 * Checks what would otherwise fail only after the embedded database and the model have loaded
 * (seconds later), each message naming the fix: the port is free, the data and journal directories
 * are not held by another live process, the model's config.json is one Inferline runs and its weights
 * are there. Returns warnings (things that start but limit what is served).
 */
export const preflight = async (options: {
  readonly host: string | undefined
  readonly port: number
  readonly modelDir: string | undefined
  readonly env: Record<string, string | undefined>
}): Promise<ReadonlyArray<string>> => {
  const warnings = options.modelDir === undefined ? [] : checkModel(options.modelDir)
  checkLocks(options.env)
  await checkPort(options.host ?? "127.0.0.1", options.port)
  return warnings
}

const checkModel = (dir: string): Array<string> => {
  if (findGgufFile(dir) !== null) return []
  try {
    readModelConfig(dir)
  } catch (e) {
    if (e instanceof ModelLoadError) throw new StartupError(`${e.message} (pass another model directory as MODEL or with INFERLINE_MODEL)`)
    throw e
  }
  const files = fs.readdirSync(dir)
  if (!files.some((f) => f.endsWith(".safetensors") || f === "model.safetensors.index.json")) {
    throw new StartupError(`${dir} has config.json but no weights (model.safetensors or model.safetensors.index.json)`)
  }
  if (!files.includes("tokenizer.json")) {
    return [
      `${path.join(dir, "tokenizer.json")} not found: this model can only take prompts as token ids; chat, text prompts, ` +
      "guided decoding and /tokenize are refused with a 400 (copy the model's tokenizer.json and tokenizer_config.json into the directory)"
    ]
  }
  return []
}

const checkLocks = (env: Record<string, string | undefined>) => {
  if ((env.DATABASE_URL ?? "") === "") {
    const dataDir = env.INFERLINE_DATA_DIR || DEFAULT_DATA_DIR
    const owner = lockOwner(dataDir)
    if (owner !== undefined) {
      throw new StartupError(`the data directory ${dataDir} is in use by process ${owner}: stop it, or give this server its own with INFERLINE_DATA_DIR=DIR (or share a Postgres through DATABASE_URL)`)
    }
  }
  const journalDir = env.INFERLINE_LEDGER_DIR || DEFAULT_JOURNAL_DIR
  const owner = lockOwner(journalDir)
  if (owner !== undefined) {
    throw new StartupError(`the ledger journal directory ${journalDir} is in use by process ${owner}: stop it, or give this server its own with INFERLINE_LEDGER_DIR=DIR`)
  }
}

/** Binds the address for a moment: a port in use fails now, naming --port, not after the model loaded. */
const checkPort = (host: string, port: number): Promise<void> => {
  if (port === 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") reject(new StartupError(`port ${port} on ${host} is in use: choose another with --port PORT (or INFERLINE_PORT), or --port 0 for a free one`))
      else if (e.code === "EACCES") reject(new StartupError(`no permission to listen on port ${port} on ${host}: use a port above 1023 with --port PORT`))
      else if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND") reject(new StartupError(`cannot listen on ${host}: not an address of this machine (--host)`))
      else reject(e)
    })
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()))
  })
}
