import { Effect, Logger } from "effect"
import { describe, expect, it } from "vitest"
import type { EvaluatorSpec } from "../../src/evaluation/evaluator-spec.ts"
import { type CompletedAnswer, makeEvaluations } from "../../src/evaluation/evaluations.ts"
import type { Score } from "../../src/evaluation/score.ts"
import { RollingScore } from "../../src/evaluation/rolling-score.ts"
import { ruleVerdict } from "../../src/evaluation/rule-evaluators.ts"
import { webhookFormatOf } from "../../src/observability/alert-webhook.ts"
import { parseRouterConfig } from "../../src/router/config.ts"

const remote = { model_name: "remote", litellm_params: { model: "openai/r", api_base: "http://127.0.0.1:9/v1" } }

describe("rule evaluators", () => {
  it("score answers 0 or 1 with a reason", () => {
    expect(ruleVerdict({ kind: "json_valid" }, '{"a": 1}')!.value).toBe(1)
    expect(ruleVerdict({ kind: "json_valid" }, "{a: 1}")!.value).toBe(0)
    expect(ruleVerdict({ kind: "regex", pattern: /^\d+$/, expect: "match" }, "42")!.value).toBe(1)
    expect(ruleVerdict({ kind: "regex", pattern: /TODO/, expect: "no_match" }, "a TODO left")!.value).toBe(0)
    expect(ruleVerdict({ kind: "not_contains", phrases: ["As an AI"] }, "as an ai, I think")).toEqual({ value: 0, comment: 'contains "As an AI"' })
    expect(ruleVerdict({ kind: "length", min: 2, max: 5 }, "héllo")!.value).toBe(1)
    expect(ruleVerdict({ kind: "length", min: 2, max: 4 }, "héllo")!.value).toBe(0)
    expect(ruleVerdict({ kind: "refusal" }, "I'm sorry, but I can't help with that.")!.value).toBe(0)
    expect(ruleVerdict({ kind: "refusal" }, "I can't stress this enough: back up first.")!.value).toBe(1)
    expect(ruleVerdict({ kind: "refusal" }, "Paris. (If a model says \"I cannot help\", retry.)")!.value).toBe(1)
    expect(ruleVerdict({ kind: "pii_leak" }, "Write to jane@example.com")).toEqual({ value: 0, comment: "personal data: email" })
    expect(ruleVerdict({ kind: "pii_leak" }, "No data here.")!.value).toBe(1)
    expect(ruleVerdict({ kind: "llm_judge", model: "m", prompt: "p" }, "x")).toBeUndefined()
  })
})

describe("the rolling score", () => {
  it("alerts once when a full window's mean falls below the threshold, and again only after it recovered", () => {
    const r = new RollingScore(4)
    const crossings = [1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0].map((v) => r.add(v, 0.5))
    // Full at index 3 (mean 0.5: not below); index 4: 0.25 -> alert; back to 0.5 at index 7 (re-armed); 0.25 again at index 12.
    expect(crossings.map((c, i) => (c ? i : -1)).filter((i) => i >= 0)).toEqual([4, 12])
    expect(r.mean).toBeCloseTo(0.25)
  })
})

describe("evaluators in the router config", () => {
  it("reads the list, checking what each type needs, groups and names", () => {
    const config = parseRouterConfig({
      model_list: [remote],
      evaluators: [
        { name: "json", type: "json_valid", models: ["remote"], sample_rate: 0.5, alert: { below: 0.9, webhook_url: "https://hooks.slack.com/services/x" } },
        { name: "judge", type: "llm_judge", judge_model: "remote" }
      ]
    }, {}, { servedModel: "served" })
    expect(config.evaluators.map((e) => [e.name, e.check.kind, e.sampleRate, [...e.groups]])).toEqual([["json", "json_valid", 0.5, ["remote"]], ["judge", "llm_judge", 1, []]])
    expect(config.evaluators[0].alert).toEqual({ below: 0.9, window: 50, webhookUrl: "https://hooks.slack.com/services/x", format: "slack" })
    expect(() => parseRouterConfig({ evaluators: [{ name: "r", type: "regex" }] })).toThrow(/evaluators\[0\]\.pattern: a regex evaluator needs a pattern/)
    expect(() => parseRouterConfig({ evaluators: [{ name: "r", type: "json_valid", sample_rate: 2 }] })).toThrow(/evaluators\[0\]\.sample_rate/)
    expect(() => parseRouterConfig({ evaluators: [{ name: "r", type: "json_valid", sampel_rate: 1 }] })).toThrow(/evaluators\[0\]\.sampel_rate: unknown key; did you mean "sample_rate"/)
    expect(() => parseRouterConfig({ model_list: [remote], evaluators: [{ name: "j", type: "llm_judge", judge_model: "remot" }] }, {}, { servedModel: "served" })).toThrow(/evaluators\[0\]\.judge_model: no model group named remot/)
    expect(() => parseRouterConfig({ evaluators: [{ name: "a", type: "refusal" }, { name: "a", type: "refusal" }] })).toThrow(/named twice/)
  })

  it("picks Slack's shape for Slack URLs unless told otherwise", () => {
    expect(webhookFormatOf("https://hooks.slack.com/services/T/B/X", undefined)).toBe("slack")
    expect(webhookFormatOf("https://hooks.slack.com/services/T/B/X", "json")).toBe("json")
    expect(webhookFormatOf("http://127.0.0.1:9/alerts", undefined)).toBe("json")
  })
})

describe("the evaluation worker", () => {
  it("scores a burst larger than a slice: every answer once, rules and a judge, in order, with the alert the burst raised", async () => {
    const stored: Array<Score> = []
    const judged: Array<string> = []
    const rule: EvaluatorSpec = { name: "no-sorry", check: { kind: "not_contains", phrases: ["sorry"] }, groups: new Set(), sampleRate: 1, alert: { below: 0.5, window: 4, webhookUrl: undefined, format: "json" } }
    const judge: EvaluatorSpec = { name: "judge", check: { kind: "llm_judge", model: "m", prompt: "p" }, groups: new Set(["g"]), sampleRate: 1, alert: undefined }
    // Answers 30.. apologize: the rule's window of 4 falls below 0.5 at the third of them, once.
    const answers = Array.from({ length: 50 }, (_, i): CompletedAnswer => ({
      requestId: `r${i}`, modelGroup: "g", deployment: null, keyId: null, teamId: null, endUser: null,
      text: () => ({ question: `q${i}`, answer: i >= 30 ? "sorry" : `a${i}` }), span: undefined
    }))
    const logLines: Array<string> = []
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const evaluations = yield* makeEvaluations({
        evaluators: [rule, judge],
        judge: (_model, _prompt, question) => Effect.sync(() => (judged.push(question), { value: 0.5, comment: "ok" })),
        sinks: [(scores) => Effect.sync(() => void stored.push(...scores))]
      })
      for (const a of answers) yield* evaluations.submit(a, evaluations.sampled("g"))
      while (stored.length < 100) yield* Effect.sleep("10 millis")
    }).pipe(Effect.provide(Logger.layer([Logger.map(Logger.formatJson, (line) => void logLines.push(line))])))))
    expect(logLines.filter((l) => l.includes("Evaluation alert: no-sorry on g averaged 0.250"))).toHaveLength(1)
    expect(stored.map((s) => s.id).sort()).toEqual(answers.flatMap((a) => [`${a.requestId}:judge`, `${a.requestId}:no-sorry`]).sort())
    expect(judged).toEqual(answers.map((_, i) => `q${i}`))
    expect(stored.filter((s) => s.evaluator === "no-sorry").map((s) => s.value)).toEqual(answers.map((_, i) => (i >= 30 ? 0 : 1)))
  })
})
