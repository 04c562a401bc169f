/**
 * The rolling mean of an evaluator's last `window` scores for one model group, and whether it has just
 * fallen below an alert threshold. It alerts once when the mean crosses below (with a full window, so
 * the first bad answer of a quiet group does not page anyone) and re-arms when the mean is back at or
 * above the threshold: one alert per drop, not one per score.
 */
export class RollingScore {
  private readonly values: Float64Array
  private next = 0
  private count = 0
  private sum = 0
  private alerting = false
  readonly window: number

  constructor(window: number) {
    this.window = window
    if (!Number.isInteger(window) || window <= 0) throw new RangeError(`window must be a positive integer, got ${window}`)
    this.values = new Float64Array(window)
  }

  get mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count
  }

  get samples(): number {
    return this.count
  }

  /** Adds a score; true when this score made the mean fall below `below` (time to alert). */
  add(value: number, below: number): boolean {
    if (this.count === this.window) this.sum -= this.values[this.next]
    else this.count++
    this.values[this.next] = value
    this.sum += value
    this.next = (this.next + 1) % this.window
    // Recomputed now and then: long runs of adds and subtracts drift in floating point.
    if (this.next === 0) this.sum = this.values.slice(0, this.count).reduce((a, b) => a + b, 0)
    const low = this.count === this.window && this.mean < below
    const crossed = low && !this.alerting
    this.alerting = low
    return crossed
  }
}
