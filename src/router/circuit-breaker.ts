/**
 * Cooldown of one deployment, as a circuit breaker: closed (in use) until more than `allowedFails`
 * failures fall within `windowMs`; then open (skipped) for `cooldownMs`; then half-open, where exactly
 * one request is let through as a probe: its success closes the breaker, its failure opens it again.
 * Time is passed in (milliseconds), so tests and the router's Clock decide what "now" is.
 */
export class CircuitBreaker {
  private failures: Array<number> = []
  private openUntil = 0
  private probing = false
  /** Times the breaker opened (cooldowns entered, failed probes included), for metrics. */
  cooldowns = 0
  readonly allowedFails: number
  readonly windowMs: number
  readonly cooldownMs: number

  constructor(options: { readonly allowedFails: number; readonly windowMs: number; readonly cooldownMs: number }) {
    this.allowedFails = options.allowedFails
    this.windowMs = options.windowMs
    this.cooldownMs = options.cooldownMs
  }

  state(now: number): "closed" | "open" | "half-open" {
    if (this.openUntil === 0) return "closed"
    return now < this.openUntil ? "open" : "half-open"
  }

  /** Whether a request may go to the deployment now; in half-open state, only the first caller may. */
  tryAcquire(now: number): boolean {
    const state = this.state(now)
    if (state === "closed") return true
    if (state === "open" || this.probing) return false
    this.probing = true
    return true
  }

  /** Whether the deployment would be offered (no side effect): for ranking before acquiring. */
  isAvailable(now: number): boolean {
    const state = this.state(now)
    return state === "closed" || (state === "half-open" && !this.probing)
  }

  /** When the deployment leaves cooldown (0 when closed). */
  get reopensAt(): number {
    return this.openUntil
  }

  onSuccess(): void {
    if (this.openUntil !== 0) {
      this.openUntil = 0
      this.failures = []
    }
    this.probing = false
  }

  onFailure(now: number): void {
    if (this.openUntil !== 0) {
      // A failed probe (or a late failure of a request sent before the cooldown): open again.
      if (this.probing || now >= this.openUntil) this.cooldowns += 1
      this.openUntil = now + this.cooldownMs
      this.probing = false
      return
    }
    this.failures = this.failures.filter((t) => t > now - this.windowMs)
    this.failures.push(now)
    if (this.failures.length > this.allowedFails) {
      this.openUntil = now + this.cooldownMs
      this.failures = []
      this.cooldowns += 1
    }
  }

  /**
   * Another replica put the deployment in cooldown until `until` (shared router state): honoured here
   * as if it had opened here, unless this breaker is already open for longer.
   */
  openUntilAt(until: number): void {
    if (until <= this.openUntil) return
    this.openUntil = until
    this.failures = []
    this.probing = false
  }

  /** An attempt that ended without a verdict (interrupted): a half-open probe slot is given back. */
  onAbandon(): void {
    this.probing = false
  }
}
