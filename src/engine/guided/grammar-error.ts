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
