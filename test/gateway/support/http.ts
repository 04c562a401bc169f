import * as net from "node:net"

export const MASTER_KEY = "test-master-key-0123456789"

/** fetch with JSON in and out; `key` goes into a Bearer Authorization header. */
export const call = async (
  url: string,
  method: string,
  path: string,
  options: { readonly key?: string; readonly body?: unknown; readonly headers?: Record<string, string> } = {}
) => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`
  if (options.body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(url + path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) })
  const text = await response.text()
  let json: any
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = text
  }
  return { status: response.status, headers: response.headers, json }
}

export const admin = (url: string, method: string, path: string, body?: unknown) => call(url, method, path, { key: MASTER_KEY, body })

/** A completion request on the protected test route. */
export const complete = (url: string, key: string | undefined, body: Record<string, unknown> = {}) =>
  call(url, "POST", "/v1/test/completions", { key, body: { model: "m", ...body } })

/**
 * Sends bytes as they are over a socket (for requests fetch refuses to make: repeated or malformed
 * headers) and returns the status line's code.
 */
export const rawRequest = (url: string, head: string, body = ""): Promise<number> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect(Number(port), hostname)
    let data = ""
    socket.setEncoding("latin1")
    socket.on("data", (chunk) => (data += chunk))
    socket.on("error", reject)
    socket.on("close", () => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(data)
      match === null ? reject(new Error(`no HTTP response: ${JSON.stringify(data.slice(0, 200))}`)) : resolve(Number(match[1]))
    })
    socket.end(head + "\r\n" + body, "latin1")
  })
