/**
 * A grammar, schema, pattern or tool definition that cannot be compiled: the request's fault. `path`
 * says where in what the client sent (e.g. `properties.age.minimum`), relative to the field given by
 * whoever reports it.
 */
export class GrammarError extends Error {
  readonly path: string

  constructor(message: string, path = "") {
    super(message)
    this.path = path
  }
}

/**
 * The GrammarError for what compiling threw: itself, or (for input nested deeper than the compilers'
 * recursion goes: a 2 MiB body can nest 100,000 levels) a GrammarError saying so. Anything else is a
 * fault of ours and is returned as it is.
 */
export const asGrammarError = (e: unknown): GrammarError | unknown =>
  e instanceof GrammarError ? e
    : e instanceof RangeError && /call stack/i.test(e.message) ? new GrammarError("it is nested too deeply")
    : e
