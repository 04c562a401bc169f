import { describe, expect, it } from "vitest"
import { parseRouterConfig } from "../../src/router/config.ts"

const entry = (params: Record<string, unknown>) => ({ model_list: [{ model_name: "kjv", litellm_params: params }] })

describe("router config: disaggregated deployments", () => {
  it("a disaggregated/ deployment has a decode server (api_base) and a prefill server (prefill_api_base)", () => {
    const c = parseRouterConfig(entry({ model: "disaggregated/kjv", prefill_api_base: "http://p:8001/v1/", api_base: "http://d:8002/v1" }), {})
    expect(c.deployments[0]).toMatchObject({ provider: "disaggregated", model: "kjv", apiBase: "http://d:8002/v1", prefillApiBase: "http://p:8001/v1" })
  })

  it("either server missing, or prefill_api_base on another provider, is refused by name", () => {
    expect(() => parseRouterConfig(entry({ model: "disaggregated/kjv", api_base: "http://d:8002/v1" }), {})).toThrow(/model_list\[0\]\.litellm_params\.prefill_api_base: a disaggregated deployment needs/)
    expect(() => parseRouterConfig(entry({ model: "disaggregated/kjv", prefill_api_base: "http://p:8001/v1" }), {})).toThrow(/model_list\[0\]\.litellm_params\.api_base: a disaggregated deployment needs/)
    expect(() => parseRouterConfig(entry({ model: "openai/gpt-4o", prefill_api_base: "http://p:8001/v1" }), {})).toThrow(/prefill_api_base: only a disaggregated\/ deployment has a prefill server/)
    expect(() => parseRouterConfig(entry({ model: "disaggregated/kjv", prefill_api_base: "nope", api_base: "http://d:8002/v1" }), {})).toThrow(/prefill_api_base/)
  })
})
