import type { DeploymentConfig } from "./config.ts"
import { CircuitBreaker } from "./circuit-breaker.ts"
import type { Provider } from "./providers/provider.ts"

/** Weight of the newest sample in the latency average. */
const LATENCY_EWMA_ALPHA = 0.3
const MINUTE_MS = 60_000

/**
 * What the router knows about one deployment while it runs: requests in flight (least-busy), latency
 * (an exponentially weighted moving average of time to first token for streams, total time otherwise),
 * requests and tokens in the current minute (usage-based, against rpm/tpm), and its circuit breaker.
 */
export class DeploymentState {
  readonly config: DeploymentConfig
  readonly provider: Provider
  readonly breaker: CircuitBreaker
  inFlight = 0
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

  recordLatency(ms: number): void {
    this.latencyMs = this.latencyMs === null ? ms : this.latencyMs + LATENCY_EWMA_ALPHA * (ms - this.latencyMs)
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

  recordRequest(now: number, tokens: number): void {
    this.roll(now)
    this.requests += 1
    this.tokens += tokens
  }

  recordTokens(now: number, tokens: number): void {
    this.roll(now)
    this.tokens += tokens
  }

  /** Whether one more request of `tokens` stays within rpm and tpm this minute. */
  hasRoom(now: number, tokens: number): boolean {
    const { requests, tokens: used } = this.usage(now)
    return (this.config.rpm === undefined || requests + 1 <= this.config.rpm) && (this.config.tpm === undefined || used + tokens <= this.config.tpm)
  }
}
