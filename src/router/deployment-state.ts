import { Cause, Exit, Option } from "effect"
import type { DeploymentConfig } from "./config.ts"
import { CircuitBreaker } from "./circuit-breaker.ts"
import { isDeploymentFailure } from "./failure-kind.ts"
import { ProviderError, type Provider } from "./providers/provider.ts"

/** Weight of the newest sample in the latency average. */
const LATENCY_EWMA_ALPHA = 0.3
const MINUTE_MS = 60_000

/**
 * What the router knows about one deployment while it runs: requests in flight (least-busy), latency
 * (an exponentially weighted moving average of time to first token for streams, total time otherwise),
 * requests and tokens in the current minute (usage-based, against rpm/tpm), and its circuit breaker.
 * Each attempt is bracketed by `begin` and `end`; `answered` marks the attempt's success (the whole
 * response, or a stream's first chunk).
 */
export class DeploymentState {
  readonly config: DeploymentConfig
  readonly provider: Provider
  readonly breaker: CircuitBreaker
  private running = 0
  /** null until the first sample: such a deployment ranks first in latency routing, so it gets measured. */
  latencyMs: number | null = null
  private minute = -1
  private requests = 0
  private tokens = 0

  constructor(config: DeploymentConfig, provider: Provider, breaker: CircuitBreaker) {
    this.config = config
    this.provider = provider
    this.breaker = breaker
  }

  /** Requests this deployment is serving now. */
  get inFlight(): number {
    return this.running
  }

  /** An attempt starts: one more in flight, one more request (and its prompt) this minute. */
  begin(now: number, promptTokens: number): void {
    this.running += 1
    this.roll(now)
    this.requests += 1
    this.tokens += promptTokens
  }

  /** The attempt answered (a whole response, or a stream's first chunk) after `elapsedMs`. */
  answered(elapsedMs: number): void {
    this.breaker.onSuccess()
    this.latencyMs = this.latencyMs === null ? elapsedMs : this.latencyMs + LATENCY_EWMA_ALPHA * (elapsedMs - this.latencyMs)
  }

  /**
   * The attempt is over (response read, stream ended, failed or abandoned), having generated
   * `completionTokens`: a failure of the deployment's own counts against its breaker (true when that
   * put it in cooldown); an interruption gives a half-open probe slot back.
   */
  end(now: number, exit: Exit.Exit<unknown, unknown>, completionTokens: number): boolean {
    this.running -= 1
    this.roll(now)
    this.tokens += completionTokens
    if (Exit.isSuccess(exit)) return false
    const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
    if (error instanceof ProviderError && isDeploymentFailure(error.kind)) {
      const before = this.breaker.cooldowns
      this.breaker.onFailure(now)
      return this.breaker.cooldowns > before
    }
    this.breaker.onAbandon()
    return false
  }

  private roll(now: number): void {
    const minute = Math.floor(now / MINUTE_MS)
    if (minute !== this.minute) {
      this.minute = minute
      this.requests = 0
      this.tokens = 0
    }
  }

  usage(now: number): { readonly requests: number; readonly tokens: number } {
    this.roll(now)
    return { requests: this.requests, tokens: this.tokens }
  }

  /**
   * The counts of this minute over all replicas (shared router state): taken when higher than this
   * replica's own, so usage-based routing sees what the others sent too.
   */
  syncUsage(now: number, counts: { readonly requests?: number | undefined; readonly tokens?: number | undefined }): void {
    this.roll(now)
    if (counts.requests !== undefined) this.requests = Math.max(this.requests, counts.requests)
    if (counts.tokens !== undefined) this.tokens = Math.max(this.tokens, counts.tokens)
  }

  /** Whether one more request of `tokens` stays within rpm and tpm this minute. */
  hasRoom(now: number, tokens: number): boolean {
    const { requests, tokens: used } = this.usage(now)
    return (this.config.rpm === undefined || requests + 1 <= this.config.rpm) && (this.config.tpm === undefined || used + tokens <= this.config.tpm)
  }
}
