// The part of autocannon's API the benches use (the package ships no types; @types/autocannon would be
// one more dependency for four fields).
declare module "autocannon" {
  interface Options {
    readonly url: string
    readonly method?: string
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly connections?: number
    readonly duration?: number
  }
  interface Histogram {
    readonly average: number
    readonly p50: number
    readonly p99: number
  }
  interface Result {
    readonly requests: Histogram
    readonly latency: Histogram
    readonly non2xx: number
    readonly errors: number
  }
  function autocannon(options: Options, callback: (error: Error | null, result: Result) => void): unknown
  export default autocannon
}
