import type { Schema } from "effect"

/** Every route the server answers, with what the docs say about it (also used for 405 answers). */
export interface Endpoint {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE"
  readonly path: string
  readonly summary: string
  readonly description: string
  readonly tag: string
  readonly request?: Schema.Top
  readonly response?: { readonly contentType: string; readonly schema: Schema.Top | null }
  readonly streams?: boolean
  readonly example?: unknown
  /** Who may call it when keys are on: anyone, any valid key (the default), or the master key only. */
  readonly access?: "public" | "key" | "master"
}
