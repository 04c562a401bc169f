import { Effect } from "effect"
import type { EngineKvConnector } from "../actors/engine-kv-transfer.ts"
import type { KvConsumer, KvProducer } from "../engine/kv-transfer/kv-connector.ts"
import { TcpKvClient } from "../engine/kv-transfer/tcp-kv-client.ts"
import { TcpKvServer } from "../engine/kv-transfer/tcp-kv-server.ts"

/** A server's part in a disaggregated deployment (--kv-role) and its transport, as the CLI resolved them. */
export type KvTransferOptions =
  | {
    readonly role: "prefill"
    /** Where the KV server listens for decode servers (--kv-transfer-host, --kv-transfer-port; 0 picks a port). */
    readonly host: string
    readonly port: number
    /** A finished prefill not fetched within this long is dropped (--kv-transfer-timeout). */
    readonly ttlMs?: number
  }
  | {
    readonly role: "decode"
    /** The prefill server's KV server (--kv-peer HOST:PORT). */
    readonly peerHost: string
    readonly peerPort: number
  }
  /** Two engines of one process sharing one in-memory connector (tests, embedding Inferline as a library). */
  | { readonly role: "in-process"; readonly producer: KvProducer | null; readonly consumer: KvConsumer | null }

/** Parses --kv-peer's HOST:PORT. */
export const parseKvPeer = (s: string): { readonly peerHost: string; readonly peerPort: number } => {
  const m = /^(.+):(\d{1,5})$/.exec(s.trim())
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !(port > 0 && port < 65536)) throw new Error(`--kv-peer: expected HOST:PORT (the prefill server's --kv-transfer-port), got ${JSON.stringify(s)}`)
  return { peerHost: m[1].replace(/^\[(.*)\]$/, "$1"), peerPort: port }
}

/**
 * The engine's connector for its role: a prefill server listens for decode servers (closed with the
 * scope), a decode server connects to its peer per transfer. Null: a colocated engine.
 */
export const kvConnectorFor = (options: KvTransferOptions | null) => {
  if (options === null) return Effect.succeed(null)
  switch (options.role) {
    case "in-process":
      return Effect.succeed<EngineKvConnector>({ producer: options.producer, consumer: options.consumer })
    case "decode":
      return Effect.succeed<EngineKvConnector>({ producer: null, consumer: new TcpKvClient({ host: options.peerHost, port: options.peerPort }) })
    case "prefill":
      return Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(Effect.sync(() => new TcpKvServer({ ttlMs: options.ttlMs })), (s) => Effect.promise(() => s.close()))
        const port = yield* Effect.tryPromise({ try: () => server.listen(options.port, options.host), catch: (e) => new Error(`--kv-transfer-port ${options.port}: cannot listen on ${options.host}: ${(e as Error).message}`) })
        yield* Effect.logInfo(`KV transfer server (--kv-role prefill) listening on ${options.host}:${port}`)
        return { producer: server, consumer: null } satisfies EngineKvConnector
      })
  }
}
