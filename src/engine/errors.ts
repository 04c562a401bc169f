/**
 * Errors raised by the pure model runtime. They are plain classes (not Effect errors) because the engine
 * core is synchronous; the actor layer wraps them into typed Effect failures.
 */
export class ModelLoadError extends Error {
  readonly file: string
  constructor(file: string, message: string) {
    super(`${file}: ${message}`)
    this.name = "ModelLoadError"
    this.file = file
  }
}
