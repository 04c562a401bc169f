import { describe, expect, it } from "vitest"
import { logSoftmax } from "../../src/engine/batch.ts"
import { promptLogprobs, RequestSampler, Rng } from "../../src/engine/sampler.ts"
import { defaultSamplingParams, type SamplingParams, validateSamplingParams } from "../../src/engine/sampling-params.ts"

const params = (overrides: Partial<SamplingParams> = {}): SamplingParams => defaultSamplingParams({ maxTokens: 1000, seed: 1234, ...overrides })
const sampler = (overrides: Partial<SamplingParams> = {}, prompt: ReadonlyArray<number> = [], eos: ReadonlyArray<number> = []) => {
  const p = params(overrides)
  return new RequestSampler(p, eos, prompt, Rng.seeded(p.seed ?? 0))
}
const row = (...values: Array<number>) => Float32Array.from(values)
/** Logits whose softmax is exactly the given probabilities (up to f32 rounding). */
const logitsOf = (...probs: Array<number>) => Float32Array.from(probs, Math.log)

/** How often each token is drawn in `times` samples of the same row. */
const histogram = (s: RequestSampler, logits: Float32Array, times: number): Array<number> => {
  const counts = new Array<number>(logits.length).fill(0)
  for (let i = 0; i < times; i++) counts[s.sample(logits, 0, logits.length, []).tokenId]++
  return counts
}

const softmax = (logits: ArrayLike<number>, t: number): Array<number> => {
  const xs = Array.from(logits, (x) => x / t)
  const m = Math.max(...xs)
  const e = xs.map((x) => Math.exp(x - m))
  const z = e.reduce((a, b) => a + b, 0)
  return e.map((x) => x / z)
}

const chiSquare = (observed: ReadonlyArray<number>, probs: ReadonlyArray<number>): number => {
  const n = observed.reduce((a, b) => a + b, 0)
  return observed.reduce((acc, o, i) => acc + (o - n * probs[i]) ** 2 / (n * probs[i]), 0)
}

const randomRow = (rng: Rng, vocab: number, scale: number) => Float32Array.from({ length: vocab }, () => (rng.nextFloat() * 2 - 1) * scale)

describe("greedy", () => {
  it("temperature 0 takes the argmax", () => {
    const s = sampler({ temperature: 0 })
    expect(s.sample(row(0.1, 2.5, -1, 2.4), 0, 4, []).tokenId).toBe(1)
  })

  it("ties go to the lowest token id", () => {
    const s = sampler({ temperature: 0 })
    expect(s.sample(row(1, 3, 0, 3, 3), 0, 5, []).tokenId).toBe(1)
  })

  it("reads the requested row of a multi-row logits buffer", () => {
    const s = sampler({ temperature: 0 })
    const logits = row(9, 0, 0, /* row 1 */ 0, 0, 9)
    expect(s.sample(logits, 1, 3, []).tokenId).toBe(2)
  })
})

describe("temperature sampling", () => {
  it("draws match softmax(logits / T) (chi-square, 5 degrees of freedom)", () => {
    const logits = row(1, 0.5, 0, -0.5, -1, 2)
    const counts = histogram(sampler({ temperature: 0.7 }), logits, 20_000)
    // p = 1e-6 at 35.9 for 5 dof: a correct sampler fails with that chance; a wrong temperature fails always.
    expect(chiSquare(counts, softmax(logits, 0.7))).toBeLessThan(40)
    expect(chiSquare(counts, softmax(logits, 1))).toBeGreaterThan(40)
  })

  it("top_k = 1 gives the greedy token", () => {
    const rng = Rng.seeded(7)
    const s = sampler({ topK: 1, temperature: 1.5 })
    const g = sampler({ temperature: 0 })
    for (let i = 0; i < 50; i++) {
      const logits = randomRow(rng, 300, 3)
      expect(s.sample(logits, 0, 300, []).tokenId).toBe(g.sample(logits, 0, 300, []).tokenId)
    }
  })

  it("top_k keeps exactly the k highest tokens (and all tokens tied with the k-th)", () => {
    const counts = histogram(sampler({ topK: 2 }), row(3, 2.9, 3.1, 0, 2.9, 1), 2000)
    expect(counts[0]).toBeGreaterThan(0)
    expect(counts[2]).toBeGreaterThan(0)
    expect(counts[1] + counts[3] + counts[4] + counts[5]).toBe(0)
    const tied = histogram(sampler({ topK: 2 }), row(3, 2, 2, 0), 2000)
    expect(tied[1]).toBeGreaterThan(0)
    expect(tied[2]).toBeGreaterThan(0)
    expect(tied[3]).toBe(0)
  })

  it("top_k on a large random row never draws outside the k best", () => {
    const rng = Rng.seeded(11)
    const logits = randomRow(rng, 5000, 4)
    const kth = [...logits].sort((a, b) => b - a)[9]
    const counts = histogram(sampler({ topK: 10 }), logits, 2000)
    expect(counts.flatMap((c, id) => (c > 0 && logits[id] < kth ? [id] : []))).toEqual([])
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(5)
  })

  it("top_p keeps the smallest top set reaching the mass, never the rest", () => {
    const logits = logitsOf(0.5, 0.3, 0.15, 0.05)
    const a = histogram(sampler({ topP: 0.75 }), logits, 2000)
    expect(a[0]).toBeGreaterThan(0)
    expect(a[1]).toBeGreaterThan(0)
    expect(a[2] + a[3]).toBe(0)
    const b = histogram(sampler({ topP: 0.9 }), logits, 2000)
    expect(b[2]).toBeGreaterThan(0)
    expect(b[3]).toBe(0)
  })

  it("top_p always keeps the top token even when it alone exceeds the mass", () => {
    const counts = histogram(sampler({ topP: 0.1 }), logitsOf(0.6, 0.4), 500)
    expect(counts).toEqual([500, 0])
  })

  it("top_p on a large vocabulary matches a brute-force nucleus", () => {
    const rng = Rng.seeded(5)
    const logits = randomRow(rng, 4000, 6)
    const probs = softmax(logits, 1)
    const order = probs.map((p, id) => ({ p, id })).sort((x, y) => y.p - x.p || x.id - y.id)
    const nucleus = new Set<number>()
    let mass = 0
    for (const { p, id } of order) {
      if (nucleus.size > 0 && mass >= 0.8) break
      nucleus.add(id)
      mass += p
    }
    const counts = histogram(sampler({ topP: 0.8 }), logits, 2000)
    expect(counts.flatMap((c, id) => (c > 0 && !nucleus.has(id) ? [id] : []))).toEqual([])
    expect(counts[order[0].id]).toBeGreaterThan(0)
    // Not just the head: a good part of this wide nucleus is actually drawn.
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(nucleus.size / 3)
  })

  it("top_p breaks ties at the boundary towards lower token ids", () => {
    const flat = row(0, 0, 0, 0)
    expect(histogram(sampler({ topP: 0.5 }), flat, 1000).map((c) => c > 0)).toEqual([true, true, false, false])
    expect(histogram(sampler({ topP: 0.6 }), flat, 1000).map((c) => c > 0)).toEqual([true, true, true, false])
  })

  it("min_p drops tokens below min_p times the top probability", () => {
    const logits = logitsOf(0.5, 0.3, 0.15, 0.05)
    const counts = histogram(sampler({ minP: 0.2 }), logits, 2000)
    expect(counts[0] * counts[1] * counts[2]).toBeGreaterThan(0)
    expect(counts[3]).toBe(0)
  })

  it("top_k, top_p and min_p combine: the intersection of what each keeps", () => {
    const logits = logitsOf(0.4, 0.25, 0.2, 0.1, 0.05)
    // top_k 4 drops token 4; top_p 0.9 over the renormalised four keeps 0..3; min_p 0.3 drops token 3.
    const counts = histogram(sampler({ topK: 4, topP: 0.9, minP: 0.3 }), logits, 2000)
    expect(counts[0] * counts[1] * counts[2]).toBeGreaterThan(0)
    expect(counts[3] + counts[4]).toBe(0)
  })
})

describe("penalties and bias", () => {
  const logits = row(2, -1, 3, 0.5, 1)
  const prompt = [0, 1]
  const output = [2, 2, 3]

  it("repetition penalty divides positive and multiplies negative logits of prompt and output tokens", () => {
    const s = sampler({ repetitionPenalty: 2 }, prompt)
    expect([...s.processedLogits(logits, 0, 5, output)]).toEqual([1, -2, 1.5, 0.25, 1])
  })

  it("frequency penalty subtracts once per output occurrence, ignoring the prompt", () => {
    const s = sampler({ frequencyPenalty: 0.5 }, prompt)
    expect([...s.processedLogits(logits, 0, 5, output)]).toEqual([2, -1, 2, 0, 1])
  })

  it("presence penalty subtracts once per distinct output token, ignoring the prompt", () => {
    const s = sampler({ presencePenalty: 0.25 }, prompt)
    expect([...s.processedLogits(logits, 0, 5, output)]).toEqual([2, -1, 2.75, 0.25, 1])
  })

  it("applies repetition, then frequency and presence, then logit_bias", () => {
    const s = sampler({ repetitionPenalty: 2, frequencyPenalty: 0.5, presencePenalty: 0.25, logitBias: new Map([[4, 1.5], [1, -1]]) }, prompt)
    // rep: [1, -2, 1.5, 0.25, 1]; freq/presence: token 2 -= 1 + 0.25, token 3 -= 0.5 + 0.25; bias.
    expect([...s.processedLogits(logits, 0, 5, output)]).toEqual([1, -3, 0.25, -0.5, 2.5])
  })

  it("keeps counts incrementally: a growing output gives what a fresh sampler computes", () => {
    const grown = sampler({ repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.2 }, prompt)
    const out: Array<number> = []
    for (const t of [4, 2, 4, 4, 3]) {
      out.push(t)
      const fresh = sampler({ repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.2 }, prompt)
      expect(grown.processedLogits(logits, 0, 5, out)).toEqual(fresh.processedLogits(logits, 0, 5, out))
    }
  })

  it("logit_bias can force a token", () => {
    const counts = histogram(sampler({ logitBias: new Map([[4, 100]]) }), row(5, 4, 3, 2, 1), 300)
    expect(counts[4]).toBe(300)
  })

  it("min_tokens masks eos and stop_token_ids until enough tokens exist", () => {
    const s = sampler({ temperature: 0, minTokens: 3, stopTokenIds: [1] }, [], [0])
    const logits = row(10, 9, 1, 0)
    expect(s.sample(logits, 0, 4, []).tokenId).toBe(2)
    expect(s.sample(logits, 0, 4, [2, 2]).tokenId).toBe(2)
    expect(s.sample(logits, 0, 4, [2, 2, 2]).tokenId).toBe(0)
  })

  it("ignore_eos does not mask eos (the stop checker just does not finish on it)", () => {
    const s = sampler({ temperature: 0, ignoreEos: true }, [], [0])
    expect(s.sample(row(10, 9, 1), 0, 3, []).tokenId).toBe(0)
  })
})

describe("seeded randomness", () => {
  const uniform = new Float32Array(100)
  const run = (s: RequestSampler, steps: number) => Array.from({ length: steps }, () => s.sample(uniform, 0, 100, []).tokenId)

  it("the same seed gives the same tokens; another seed gives others", () => {
    expect(run(sampler({ seed: 42 }), 50)).toEqual(run(sampler({ seed: 42 }), 50))
    expect(run(sampler({ seed: 42 }), 50)).not.toEqual(run(sampler({ seed: 43 }), 50))
  })

  it("a seeded request's tokens do not depend on other requests sampled in between", () => {
    const alone = run(sampler({ seed: 9 }), 30)
    const a = sampler({ seed: 9 })
    const b = sampler({ seed: 10 })
    const c = new RequestSampler(params({ seed: null }), [], [], 0)
    const interleaved: Array<number> = []
    for (let i = 0; i < 30; i++) {
      run(b, i % 3)
      run(c, 1)
      interleaved.push(run(a, 1)[0])
    }
    expect(interleaved).toEqual(alone)
  })

  it("n > 1 gives each sequence its own reproducible stream; sequence 0 is the n = 1 stream", () => {
    const samplers = () => [0, 1, 2].map((i) => new RequestSampler(params({ seed: 5, n: 3 }), [], [], i))
    const seqs = samplers()
    const again = samplers()
    const first = seqs.map((s) => run(s, 20))
    expect(again.map((s) => run(s, 20))).toEqual(first)
    expect(new Set(first.map((t) => t.join())).size).toBe(3)
    expect(first[0]).toEqual(run(new RequestSampler(params({ seed: 5 }), [], [], 0), 20))
  })

  it("unseeded samplers differ from each other", () => {
    const p = params({ seed: null })
    expect(run(new RequestSampler(p, [], [], 0), 30)).not.toEqual(run(new RequestSampler(p, [], [], 0), 30))
  })

  it("Rng floats are uniform in [0, 1) and nearby seeds are unrelated", () => {
    const r = Rng.seeded(0)
    let sum = 0
    for (let i = 0; i < 10_000; i++) {
      const x = r.nextFloat()
      expect(x >= 0 && x < 1).toBe(true)
      sum += x
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02)
    expect(Rng.seeded(1).nextUint32()).not.toBe(Rng.seeded(2).nextUint32())
    expect(Rng.seeded(-1).nextUint32()).not.toBe(Rng.seeded(2 ** 32 - 1).nextUint32())
  })
})

describe("logprobs", () => {
  const logits = row(1, 3, 3, -2, 0.5, 2)

  it("are log_softmax of the raw logits, whatever penalties and temperature did", () => {
    const s = sampler({ temperature: 0.5, repetitionPenalty: 1.8, logitBias: new Map([[3, 50]]), logprobs: 3 }, [1, 2])
    const lp = logSoftmax(logits, 0, 6)
    const t = s.sample(logits, 0, 6, [])
    expect(t.tokenId).toBe(3)
    expect(t.logprob).toBe(lp[3])
    expect(t.rank).toBe(6)
  })

  it("top logprobs are sorted high to low, ties by lower id, and rank counts ties as ahead", () => {
    const s = sampler({ temperature: 0, logprobs: 4 })
    const lp = logSoftmax(logits, 0, 6)
    const t = s.sample(logits, 0, 6, [])
    expect(t.tokenId).toBe(1)
    expect(t.topLogprobs).toEqual([
      { tokenId: 1, logprob: lp[1] },
      { tokenId: 2, logprob: lp[2] },
      { tokenId: 5, logprob: lp[5] },
      { tokenId: 0, logprob: lp[0] }
    ])
    // Token 2 ties token 1, so even the argmax has rank 2 (vLLM counts logprobs >= the sampled one).
    expect(t.rank).toBe(2)
  })

  it("logprobs = 0 gives the sampled token only; null gives nothing", () => {
    expect(sampler({ temperature: 0, logprobs: 0 }).sample(logits, 0, 6, []).topLogprobs).toEqual([])
    expect(sampler({ temperature: 0 }).sample(logits, 0, 6, [])).toEqual({ tokenId: 1, logprob: null, rank: null, topLogprobs: null })
  })

  it("prompt logprobs score each next prompt token, null at position 0, and chunks concatenate", () => {
    const vocab = 5
    const prompt = [4, 1, 3, 0]
    const rng = Rng.seeded(3)
    const rows = randomRow(rng, vocab * prompt.length, 2)
    const whole = promptLogprobs(rows, prompt.length, vocab, prompt, 2)
    expect(whole).toHaveLength(prompt.length)
    expect(whole[0]).toBeNull()
    for (let pos = 1; pos < prompt.length; pos++) {
      const lp = logSoftmax(rows, pos - 1, vocab)
      expect(whole[pos]?.tokenId).toBe(prompt[pos])
      expect(whole[pos]?.logprob).toBe(lp[prompt[pos]])
      expect(whole[pos]?.topLogprobs).toHaveLength(2)
    }
    const chunked = [...promptLogprobs(rows, 2, vocab, prompt, 2, 0, 0), ...promptLogprobs(rows, 2, vocab, prompt, 2, 2, 2)]
    expect(chunked).toEqual(whole)
  })
})

describe("validateSamplingParams", () => {
  const check = (o: Partial<SamplingParams>) => validateSamplingParams(defaultSamplingParams(o), 100)

  it("accepts the defaults and names the offending field in snake_case otherwise", () => {
    expect(check({})).toBeNull()
    expect(check({ temperature: -0.1 })).toMatch(/^temperature must be >= 0/)
    expect(check({ topP: 0 })).toMatch(/^top_p must be in \(0, 1\]/)
    expect(check({ topK: -2 })).toMatch(/^top_k/)
    expect(check({ minP: 1.5 })).toMatch(/^min_p/)
    expect(check({ presencePenalty: 3 })).toMatch(/^presence_penalty/)
    expect(check({ frequencyPenalty: -3 })).toMatch(/^frequency_penalty/)
    expect(check({ repetitionPenalty: 0 })).toMatch(/^repetition_penalty/)
    expect(check({ logitBias: new Map([[100, 1]]) })).toMatch(/^logit_bias token id 100 is out of range/)
    expect(check({ stopTokenIds: [-1] })).toMatch(/^stop_token_ids/)
    expect(check({ stop: [""] })).toMatch(/^stop /)
    expect(check({ n: 0 })).toMatch(/^n must be/)
    expect(check({ maxTokens: 0 })).toMatch(/^max_tokens must be/)
    expect(check({ minTokens: 20, maxTokens: 10 })).toMatch(/^min_tokens must be <= max_tokens/)
    expect(check({ logprobs: 21 })).toMatch(/^logprobs must be <= 20/)
    expect(check({ promptLogprobs: -1 })).toMatch(/^prompt_logprobs/)
    expect(check({ seed: 1.5 })).toMatch(/^seed/)
  })
})
