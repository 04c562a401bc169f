import * as fs from "node:fs"
import * as path from "node:path"
import { repoRoot } from "./models.ts"

/**
 * Every route the HTTP layer registers (`HttpRouter.add` / `HttpRouter.route` calls under src/http),
 * read from the sources, as OpenAPI names them (`:id` -> `{id}`): a route added without its docs
 * fails the docs test.
 */
export const registeredRoutes = (): Array<{ readonly method: string; readonly path: string }> => {
  const dir = path.join(repoRoot, "src", "http")
  const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))
  const routes = new Map<string, { method: string; path: string }>()
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), "utf8")
    for (const m of text.matchAll(/HttpRouter\.(?:add|route)\(\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"([^"]+)"/g)) {
      const route = { method: m[1], path: m[2].replace(/:(\w+)/g, "{$1}") }
      routes.set(`${route.method} ${route.path}`, route)
    }
  }
  return [...routes.values()].sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method))
}
