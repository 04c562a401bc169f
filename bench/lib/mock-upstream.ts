import type * as http from "node:http"

/** The chat request the gateway benchmarks send (`stream` for the SSE form). */
export const chatRequestBody = (stream: boolean): string =>
  JSON.stringify({ model: "mock", messages: [{ role: "user", content: "Say hello." }], max_tokens: 16, ...(stream && { stream: true }) })

const response = JSON.stringify({
  id: "chatcmpl-mock", object: "chat.completion", created: 1, model: "mock",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello there!" }, logprobs: null, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 }
})
const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model: "mock", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
const events = [chunk({ role: "assistant", content: "" }), chunk({ content: "Hello" }), chunk({ content: " there!" }), chunk({}, "stop"),
  `data: ${JSON.stringify({ id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1, model: "mock", choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } })}\n\n`, "data: [DONE]\n\n"]

/**
 * The mock upstream's request handler: a fixed OpenAI chat completion, or, for `"stream":true`, a fixed
 * SSE stream whose first chunk is written at once and the rest in one write (what a first-chunk
 * measurement needs). As fast as node:http goes.
 */
export const mockUpstreamHandler: http.RequestListener = (req, res) => {
  let body = ""
  req.setEncoding("utf8")
  req.on("data", (c: string) => (body += c))
  req.on("end", () => {
    if (!body.includes("\"stream\":true")) {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(response) }).end(response)
      return
    }
    res.writeHead(200, { "content-type": "text/event-stream" })
    res.write(events[0])
    res.end(events.slice(1).join(""))
  })
}
