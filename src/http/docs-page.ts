/**
 * GET /docs: one self-contained HTML page (no CDN, no network beyond this server) that fetches
 * /openapi.json and renders each endpoint: summary, request fields with types and descriptions, a curl
 * example and the response codes.
 */
export const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Inferline API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  main { max-width: 980px; margin: 0 auto; padding: 24px; }
  h1 { margin: 0 0 4px; }
  .intro { color: #4a5366; margin-bottom: 24px; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; margin: 16px 0; padding: 16px 20px; }
  .head { display: flex; gap: 12px; align-items: baseline; }
  .method { font-weight: 700; font-size: 13px; padding: 2px 8px; border-radius: 4px; color: #fff; }
  .GET { background: #2f7d4f; } .POST { background: #2f5d9d; } .PATCH { background: #8a6a1f; } .DELETE { background: #a23b3b; }
  .access { font-size: 12px; color: #4a5366; border: 1px solid #dde1e8; border-radius: 10px; padding: 1px 8px; }
  .path { font-family: ui-monospace, monospace; font-size: 16px; font-weight: 600; }
  .tag { margin-left: auto; color: #7a8496; font-size: 13px; }
  table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff3; vertical-align: top; }
  td.name { font-family: ui-monospace, monospace; white-space: nowrap; }
  td.type { color: #6b4fa0; font-family: ui-monospace, monospace; font-size: 13px; }
  pre { background: #1d2330; color: #e8ebf1; padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 13px; }
  .codes span { display: inline-block; margin-right: 14px; font-size: 13px; color: #4a5366; }
  .codes b { color: #1d2330; }
</style>
</head>
<body>
<main>
  <h1>Inferline API</h1>
  <div class="intro" id="intro">Loading /openapi.json…</div>
  <div id="endpoints"></div>
</main>
<script>
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag)
    Object.assign(node, props)
    for (const c of children) node.append(c)
    return node
  }
  const resolve = (doc, schema) => {
    while (schema && schema.$ref) schema = doc.components.schemas[schema.$ref.split("/").pop()]
    return schema || {}
  }
  const typeOf = (doc, s) => {
    s = resolve(doc, s)
    if (s.anyOf) return s.anyOf.map((x) => typeOf(doc, x)).join(" | ")
    if (s.type === "array") return typeOf(doc, s.items) + "[]"
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ")
    if (s.const !== undefined) return JSON.stringify(s.const)
    return s.type || "any"
  }
  const ACCESS = { public: "no key", key: "API key (when keys are on)", master: "master key" }
  // With keys on, the examples send one: $INFERLINE_MASTER_KEY for the master-only routes.
  const authOf = (op) => op["x-inferline-access"] === "master" ? " -H \\"authorization: Bearer $INFERLINE_MASTER_KEY\\"" : op["x-inferline-access"] === "key" ? " -H \\"authorization: Bearer $INFERLINE_API_KEY\\"" : ""
  const render = (doc) => {
    document.getElementById("intro").textContent = doc.info.description
    const root = document.getElementById("endpoints")
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const M = method.toUpperCase()
        const section = el("section", {},
          el("div", { className: "head" },
            el("span", { className: "method " + M, textContent: M }),
            el("span", { className: "path", textContent: path }),
            el("span", { className: "access", textContent: ACCESS[op["x-inferline-access"]] || "" }),
            el("span", { className: "tag", textContent: (op.tags || []).join(", ") })),
          el("p", { textContent: op.summary + ". " + op.description }))
        const media = op.requestBody && op.requestBody.content["application/json"]
        if (media) {
          const body = resolve(doc, media.schema)
          const required = new Set(body.required || [])
          const table = el("table", {}, el("tr", {}, el("th", { textContent: "field" }), el("th", { textContent: "type" }), el("th", { textContent: "description" })))
          for (const [name, s] of Object.entries(body.properties || {})) {
            const r = resolve(doc, s)
            table.append(el("tr", {},
              el("td", { className: "name", textContent: name + (required.has(name) ? " *" : "") }),
              el("td", { className: "type", textContent: typeOf(doc, r) }),
              el("td", { textContent: s.description || r.description || "" })))
          }
          section.append(table)
          if (media.example) {
            const url = location.origin + path
            section.append(el("pre", { textContent: "curl -s " + url + authOf(op) + " -H 'content-type: application/json' \\\\\\n  -d '" + JSON.stringify(media.example) + "'" }))
          }
        } else if (M === "GET" && path !== "/v1/ws") {
          section.append(el("pre", { textContent: "curl -s " + location.origin + path + authOf(op) }))
        }
        const codes = el("div", { className: "codes" })
        for (const [code, r] of Object.entries(op.responses || {})) codes.append(el("span", {}, el("b", { textContent: code }), " " + r.description))
        section.append(codes)
        root.append(section)
      }
    }
  }
  fetch("/openapi.json").then((r) => r.json()).then(render, (e) => {
    document.getElementById("intro").textContent = "Could not load /openapi.json: " + e
  })
</script>
</body>
</html>
`
