import { Yaml } from "effect/encoding"
import { describe, expect, it } from "vitest"
import { parseRouterConfig, RouterConfigError } from "../../src/router/config.ts"

const LITELLM_CONFIG = `
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:9001/v1
      api_key: os.environ/OPENAI_KEY
      rpm: 60
      tpm: 100000
      timeout: 30
      stream_timeout: 5
      max_input_tokens: 8000
      prices: { input: 2.5, cached_input: 1.25, output: 10 }
      tags: [fast]
    model_info:
      id: gpt-4o-a
  - model_name: gpt-4o
    litellm_params:
      model: hosted_vllm/meta-llama/Llama-3-8B
      api_base: http://127.0.0.1:9002/v1
      weight: 3
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4
      api_key: sk-literal
      input_cost_per_token: 0.000003
      output_cost_per_token: 0.000015
router_settings:
  routing_strategy: least-busy
  num_retries: 4
  retry_after: 0.2
  allowed_fails: 1
  cooldown_time: 30
  timeout: 60
litellm_settings:
  fallbacks: [{ gpt-4o: [claude] }]
  context_window_fallbacks: [{ gpt-4o: [claude] }]
  content_policy_fallbacks: [{ claude: [gpt-4o] }]
general_settings:
  master_key: sk-ignored-here
port: 8000
`

describe("router config (LiteLLM's shape)", () => {
  it("loads a LiteLLM config unchanged: deployments, secrets, settings, fallbacks", () => {
    const config = parseRouterConfig(Yaml.parse(LITELLM_CONFIG), { OPENAI_KEY: "sk-from-env" })
    expect(config.deployments.map((d) => [d.id, d.group, d.provider, d.model])).toEqual([
      ["gpt-4o-a", "gpt-4o", "openai", "gpt-4o"],
      ["gpt-4o/1", "gpt-4o", "openai", "meta-llama/Llama-3-8B"],
      ["claude/0", "claude", "anthropic", "claude-sonnet-4"]
    ])
    const [a, b, c] = config.deployments
    expect(a).toMatchObject({ apiBase: "http://127.0.0.1:9001/v1", apiKey: "sk-from-env", rpm: 60, tpm: 100000, timeoutMs: 30_000, streamTimeoutMs: 5_000, maxInputTokens: 8000, tags: ["fast"] })
    expect(a.prices).toEqual({ input: 2.5, cachedInput: 1.25, output: 10 })
    expect(b).toMatchObject({ weight: 3, timeoutMs: 60_000, apiKey: undefined })
    expect(c).toMatchObject({ apiBase: "https://api.anthropic.com", apiKey: "sk-literal" })
    expect(c.prices.input).toBeCloseTo(3)
    expect(c.prices.output).toBeCloseTo(15)
    expect(config.settings).toMatchObject({ strategy: "least-busy", numRetries: 4, retryBaseMs: 200, allowedFails: 1, cooldownMs: 30_000 })
    expect(config.settings.fallbacks.get("gpt-4o")).toEqual(["claude"])
    expect(config.settings.contextWindowFallbacks.get("gpt-4o")).toEqual(["claude"])
    expect(config.settings.contentPolicyFallbacks.get("claude")).toEqual(["gpt-4o"])
  })

  it("defaults: LiteLLM's (3 allowed fails, 5 s cooldown, simple-shuffle)", () => {
    const config = parseRouterConfig({})
    expect(config.deployments).toEqual([])
    expect(config.settings).toMatchObject({ strategy: "simple-shuffle", allowedFails: 3, cooldownMs: 5000 })
  })

  it.each([
    [{ model_list: [{ model_name: "a", litellm_params: { model: "openai/x" } }, { model_name: "b", litellm_params: { model: "openai/x", api_base: "not a url" } }] }, "model_list[1].litellm_params.api_base: expected a URL"],
    [{ model_list: [{ model_name: "a", litellm_params: { model: "gpt-4o" } }] }, "model_list[0].litellm_params.model: expected \"<provider>/<model>\""],
    [{ model_list: [{ model_name: "a", litellm_params: { model: "openai/x", rpm: -1 } }] }, "model_list[0].litellm_params.rpm: expected an integer >= 0"],
    [{ model_list: [{ litellm_params: { model: "openai/x" } }] }, "model_list[0].model_name: Missing key"],
    [{ router_settings: { routing_strategy: "fastest" } }, "router_settings.routing_strategy: Expected"],
    [{ litellm_settings: { fallbacks: { a: ["b"] } } }, "litellm_settings.fallbacks: Expected array"],
    [{ model_list: [{ model_name: "a", litellm_params: { model: "openai/x", api_key: "os.environ/MISSING" } }] }, "model_list[0].litellm_params.api_key: environment variable MISSING is not set"]
  ])("names the offending path: %j", (raw, message) => {
    expect(() => parseRouterConfig(raw, {})).toThrow(RouterConfigError)
    expect(() => parseRouterConfig(raw, {})).toThrow(message)
  })
})
