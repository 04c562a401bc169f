import { parseKvPeer, type KvTransferOptions } from "../layers/kv-connector.ts"

/** The serve options of disaggregated prefill/decode (vLLM's --kv-transfer-config, as separate flags). */
export const KV_TRANSFER_OPTIONS = [
  { name: "kv-role", kind: "choice", value: "prefill|decode", choices: ["prefill", "decode"], help: "Disaggregated prefill/decode: prefill (hands each kv_transfer_params.do_remote_decode request's KV to a decode server over --kv-transfer-port) or decode (continues do_remote_prefill requests from --kv-peer's KV). Default: neither, a colocated engine." },
  { name: "kv-transfer-host", kind: "string", value: "HOST", help: "With --kv-role prefill: address the KV transfer server listens on (default 127.0.0.1; it has no authentication: bind it to a private network only)." },
  { name: "kv-transfer-port", kind: "port", value: "PORT", help: "With --kv-role prefill: port of the KV transfer server decode servers fetch from (default 14579; 0 picks a free one)." },
  { name: "kv-transfer-timeout", kind: "seconds", value: "SECONDS", help: "With --kv-role prefill: a finished prefill whose decode server has not fetched it within this long is dropped (default 60)." },
  { name: "kv-peer", kind: "string", value: "HOST:PORT", help: "With --kv-role decode: the prefill server's KV transfer server (its --kv-transfer-host:--kv-transfer-port)." }
] as const

export const DEFAULT_KV_TRANSFER_PORT = 14579

/**
 * The engine's KV transfer options from the resolved values; null for a colocated engine. Throws Error
 * naming the option at fault (a transport flag without --kv-role, or with the other role's).
 */
export const resolveKvTransfer = (get: <T>(name: string) => T | undefined): KvTransferOptions | null => {
  const role = get<"prefill" | "decode">("kv-role")
  const prefillOnly = ["kv-transfer-host", "kv-transfer-port", "kv-transfer-timeout"].filter((n) => get(n) !== undefined)
  const peer = get<string>("kv-peer")
  if (role === undefined) {
    const stray = [...prefillOnly, ...(peer === undefined ? [] : ["kv-peer"])]
    if (stray.length > 0) throw new Error(`--${stray[0]} needs --kv-role (prefill or decode)`)
    return null
  }
  if (role === "prefill") {
    if (peer !== undefined) throw new Error("--kv-peer is for --kv-role decode (a prefill server listens on --kv-transfer-port)")
    const ttl = get<number>("kv-transfer-timeout")
    return { role, host: get<string>("kv-transfer-host") ?? "127.0.0.1", port: get<number>("kv-transfer-port") ?? DEFAULT_KV_TRANSFER_PORT, ...(ttl !== undefined && { ttlMs: ttl * 1000 }) }
  }
  if (prefillOnly.length > 0) throw new Error(`--${prefillOnly[0]} is for --kv-role prefill (a decode server fetches from --kv-peer)`)
  if (peer === undefined) throw new Error("--kv-role decode needs --kv-peer HOST:PORT (the prefill server's KV transfer server)")
  return { role, ...parseKvPeer(peer) }
}
