/**
 * A served model's resident memory once loaded, next to what issue 17's criterion allows: RSS after load
 * <= 1.3 x the checkpoint's safetensors bytes + the KV pool. "After load" is once the server has printed
 * the URL it serves at and its RSS has stopped moving (the executor's helper threads finish starting
 * just after the URL is printed: ~20 MB more within a second), before any request.
 *
 * The KV pool is allocated at startup (--kv-cache-memory, in the kernels' WebAssembly memory) but its
 * pages are only touched as sequences fill blocks, so RSS after load holds almost none of it: the pool's
 * bytes are reported separately, as the allowance the criterion grants for it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { PagedKvCache } from "../../src/engine/kv-cache.ts"
import { readModelConfig } from "../../src/engine/model-dir.ts"

export interface MemoryAfterLoad {
  /** Where keys and the ledger live, from the server's log: its own embedded PGlite (a thread of the process) or DATABASE_URL's. */
  readonly database: "embedded PGlite" | "PostgreSQL" | "unknown"
  /** VmRSS of the server process (all its threads: the event loop, the executor, helpers, PGlite). */
  readonly rssAfterLoadBytes: number
  /** Of which anonymous memory (heaps, WebAssembly memories), file-backed (code), shared. */
  readonly rssAnonBytes: number
  readonly rssFileBytes: number
  readonly rssShmemBytes: number
  /** VmHWM: the highest RSS so far (during the load). */
  readonly peakRssBytes: number
  /** Every *.safetensors file of the model directory. */
  readonly checkpointBytes: number
  /** The KV pool the server allocated: its blocks (printed at startup) and the null block, K and V, f32. */
  readonly kvPoolBytes: number
  /** 1.3 x checkpointBytes + kvPoolBytes. */
  readonly boundBytes: number
  readonly withinBound: boolean
}

const statusField = (status: string, field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  if (m === null) throw new Error(`/proc status has no ${field}`)
  return Number(m[1]) * 1024
}

/** Bytes of every .safetensors file in `dir`. */
export const checkpointBytesOf = (dir: string): number =>
  fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0)

/** The KV pool's bytes, from the startup line "KV cache N blocks x B tokens" and the model's config. */
export const kvPoolBytesOf = (serveOutput: string, modelDir: string): number => {
  const m = /KV cache (\d+) blocks x (\d+) tokens/.exec(serveOutput)
  if (m === null) throw new Error(`the server did not print its KV cache size:\n${serveOutput}`)
  const blocks = Number(m[1]) + 1 // the null block is allocated too
  return blocks * PagedKvCache.bytesPerBlock(readModelConfig(modelDir), Number(m[2]), "f32")
}

/** Reads /proc/PID/status of a server that has just printed its URL (see the module comment). */
export const memoryAfterLoad = (pid: number, modelDir: string, serveOutput: string): MemoryAfterLoad => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const checkpointBytes = checkpointBytesOf(modelDir)
  const kvPoolBytes = kvPoolBytesOf(serveOutput, modelDir)
  const rssAfterLoadBytes = statusField(status, "VmRSS")
  const boundBytes = Math.round(1.3 * checkpointBytes + kvPoolBytes)
  const database = /database: embedded PGlite/.test(serveOutput) ? "embedded PGlite" : /database: PostgreSQL/.test(serveOutput) ? "PostgreSQL" : "unknown"
  return {
    database,
    rssAfterLoadBytes,
    rssAnonBytes: statusField(status, "RssAnon"),
    rssFileBytes: statusField(status, "RssFile"),
    rssShmemBytes: statusField(status, "RssShmem"),
    peakRssBytes: statusField(status, "VmHWM"),
    checkpointBytes,
    kvPoolBytes,
    boundBytes,
    withinBound: rssAfterLoadBytes <= boundBytes
  }
}

/**
 * memoryAfterLoad once the server's RSS holds still: read every 250 ms until two readings a second apart
 * differ by under 1 MiB (at most `timeoutMs`). Also gives the RSS read at once, when the URL was printed.
 */
export const settledMemoryAfterLoad = async (pid: number, modelDir: string, serveOutput: () => string, timeoutMs = 10_000): Promise<MemoryAfterLoad & { readonly rssAtUrlBytes: number }> => {
  const rss = () => statusField(fs.readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS")
  const rssAtUrlBytes = rss()
  const readings = [rssAtUrlBytes]
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 250))
    readings.push(rss())
    if (readings.length >= 5 && Math.abs(readings[readings.length - 1] - readings[readings.length - 5]) < 2 ** 20) break
  }
  return { ...memoryAfterLoad(pid, modelDir, serveOutput()), rssAtUrlBytes }
}
