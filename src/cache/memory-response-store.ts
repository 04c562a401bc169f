import { Effect } from "effect"
import { keyMatches } from "./cache-key.ts"
import type { CachedResponse } from "./cached-response.ts"
import type { ResponseStore } from "./response-store.ts"

interface Slot {
  readonly entry: CachedResponse
  readonly bytes: number
  readonly expiresAt: number
}

/** What an entry costs in memory, roughly: its JSON, in UTF-16 code units of two bytes. */
const sizeOf = (key: string, entry: CachedResponse) => 2 * (key.length + JSON.stringify(entry.response).length) + 256

/**
 * Entries in this process: at most `maxBytes` of them (the least recently used go first), each until
 * its ttl. A Map keeps insertion order, so re-inserting on use makes its first key the least recent.
 */
export const makeMemoryResponseStore = (maxBytes: number, now: () => number = Date.now): ResponseStore & { readonly bytes: () => number } => {
  const slots = new Map<string, Slot>()
  let bytes = 0
  const drop = (key: string, slot: Slot) => {
    slots.delete(key)
    bytes -= slot.bytes
  }
  return {
    get: (key) =>
      Effect.sync(() => {
        const slot = slots.get(key)
        if (slot === undefined) return undefined
        if (slot.expiresAt <= now()) {
          drop(key, slot)
          return undefined
        }
        slots.delete(key)
        slots.set(key, slot)
        return slot.entry
      }),
    set: (key, entry, ttlMs) =>
      Effect.sync(() => {
        const old = slots.get(key)
        if (old !== undefined) drop(key, old)
        const slot = { entry, bytes: sizeOf(key, entry), expiresAt: now() + ttlMs }
        if (slot.bytes > maxBytes) return
        slots.set(key, slot)
        bytes += slot.bytes
        for (const [k, s] of slots) {
          if (bytes <= maxBytes) break
          drop(k, s)
        }
      }),
    clear: (selector) =>
      Effect.sync(() => {
        let n = 0
        for (const [k, s] of slots) {
          if (keyMatches(k, selector)) {
            drop(k, s)
            n++
          }
        }
        return n
      }),
    bytes: () => bytes
  }
}
