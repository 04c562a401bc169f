// Preloaded into the Inferline process by bench/gateway-tail.ts (node --import): records when each chat
// request reached the server ('request' event) and when its response finished, and each upstream call's
// start and end, and writes them as JSON to
// $INFERLINE_BENCH_TIMING_FILE when the process gets SIGTERM. Bench-only; nothing in src knows of it.
import fs from "node:fs"
import http from "node:http"

const spans = []
const upstream = []
const now = () => performance.timeOrigin + performance.now()
const emit = http.Server.prototype.emit
http.Server.prototype.emit = function (event, req, res) {
  if (event === "request" && req.url === "/v1/chat/completions") {
    const start = now()
    res.on("finish", () => spans.push([start, now()]))
  }
  return emit.apply(this, arguments)
}
// Upstream calls (every request an http.Agent sends): from the request's start to its response's end.
const addRequest = http.Agent.prototype.addRequest
http.Agent.prototype.addRequest = function (req) {
  const start = now()
  req.once("response", (res) => res.once("end", () => upstream.push([start, now()])))
  return addRequest.apply(this, arguments)
}
process.on("SIGTERM", () => {
  fs.writeFileSync(process.env.INFERLINE_BENCH_TIMING_FILE, JSON.stringify({ spans, upstream }))
  process.exit(0)
})
