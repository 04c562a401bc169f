import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { resolveServeConfig } from "../../src/cli.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inferline-cli-spec-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const resolve = (args: Array<string>, env: Record<string, string> = {}) => {
  const config = resolveServeConfig(args, env, "/srv")
  if (config === "help") throw new Error("unexpected help")
  return config
}

describe("inferline serve: speculative decoding options", () => {
  it("off by default", () => {
    expect(resolve([]).engine.speculative).toBeUndefined()
  })

  it("vLLM's flags, the --speculative-config JSON, the config file and the environment", () => {
    expect(resolve(["--speculative-method", "ngram", "--num-speculative-tokens", "3", "--prompt-lookup-max", "4"]).engine.speculative)
      .toEqual({ method: "ngram", numSpeculativeTokens: 3, promptLookupMin: 4, promptLookupMax: 4, disableByBatchSize: 2 })
    expect(resolve(["--speculative-config", "{\"method\":\"ngram\",\"num_speculative_tokens\":5,\"prompt_lookup_min\":2,\"prompt_lookup_max\":3,\"disable_by_batch_size\":8}"]).engine.speculative)
      .toEqual({ method: "ngram", numSpeculativeTokens: 5, promptLookupMin: 2, promptLookupMax: 3, disableByBatchSize: 8 })
    // A separate flag overrides the JSON's key.
    expect(resolve(["--speculative-config", "{\"method\":\"ngram\",\"num_speculative_tokens\":5}", "--num-speculative-tokens", "2"]).engine.speculative)
      .toMatchObject({ numSpeculativeTokens: 2, promptLookupMin: 5, promptLookupMax: 5 })
    const yaml = path.join(tmp, "spec.yaml")
    fs.writeFileSync(yaml, "speculative_config: { method: ngram, num_speculative_tokens: 4, prompt_lookup_min: 1 }\nspeculative-disable-by-batch-size: 16\n")
    expect(resolve(["--config", yaml]).engine.speculative).toEqual({ method: "ngram", numSpeculativeTokens: 4, promptLookupMin: 1, promptLookupMax: 1, disableByBatchSize: 16 })
    expect(resolve([], { INFERLINE_SPECULATIVE_METHOD: "ngram", INFERLINE_NUM_SPECULATIVE_TOKENS: "2" }).engine.speculative).toMatchObject({ numSpeculativeTokens: 2 })
  })

  it("bad values are refused by name", () => {
    expect(() => resolve(["--speculative-method", "eagle"])).toThrow(/--speculative-method: expected one of ngram, draft_model/)
    expect(() => resolve(["--num-speculative-tokens", "4"])).toThrow(/method must be "ngram"/)
    expect(() => resolve(["--speculative-method", "ngram"])).toThrow(/num_speculative_tokens is required/)
    expect(() => resolve(["--speculative-method", "ngram", "--num-speculative-tokens", "2", "--prompt-lookup-min", "4", "--prompt-lookup-max", "2"])).toThrow(/prompt_lookup_max must be an integer >= prompt_lookup_min/)
    expect(() => resolve(["--speculative-config", "{nope"])).toThrow(/--speculative-config: not valid JSON/)
    expect(() => resolve(["--speculative-config", "{\"method\":\"ngram\",\"num_speculative_tokens\":2,\"draft_tensor_parallel_size\":1}"])).toThrow(/unknown key draft_tensor_parallel_size/)
    expect(() => resolve(["--speculative-config", "{\"method\":\"ngram\",\"num_speculative_tokens\":\"2\"}"])).toThrow(/num_speculative_tokens must be an integer/)
  })
})

describe("inferline serve: a draft model", () => {
  it("--speculative-model DIR (relative to the working directory) means method draft_model", () => {
    expect(resolve(["--speculative-model", "models/draft", "--num-speculative-tokens", "3"]).engine.speculative)
      .toMatchObject({ method: "draft_model", model: "/srv/models/draft", numSpeculativeTokens: 3, disableByBatchSize: 2 })
    expect(resolve(["--speculative-config", "{\"method\":\"draft_model\",\"model\":\"/m/d\",\"num_speculative_tokens\":2}"]).engine.speculative).toMatchObject({ method: "draft_model", model: "/m/d" })
    expect(() => resolve(["--speculative-method", "draft_model", "--num-speculative-tokens", "2"])).toThrow(/the draft_model method needs model/)
    expect(() => resolve(["--speculative-method", "ngram", "--speculative-model", "x", "--num-speculative-tokens", "2"])).toThrow(/goes with method draft_model/)
  })
})
