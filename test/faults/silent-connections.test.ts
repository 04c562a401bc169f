/**
 * Issue 16, item 9: connections that never send a byte must be closed (a header timeout), as must one
 * that sends half its headers and stalls; a connection that makes its request is served as usual.
 */
import * as net from "node:net"
import { expect, it } from "vitest"
import { sleep } from "../support/free-port.ts"
import { complete, MASTER_KEY, serveInferline } from "./support/inferline-process.ts"

const HEADER_TIMEOUT_SECONDS = 2

/** A raw TCP connection that records when the server closed it. */
const connect = (port: number) =>
  new Promise<{ readonly socket: net.Socket; readonly closedAt: () => number | undefined }>((resolve, reject) => {
    let closedAt: number | undefined
    const socket = net.connect(port, "127.0.0.1", () => resolve({ socket, closedAt: () => closedAt }))
    socket.resume() // read (and drop) whatever comes, so the close is seen after it
    socket.on("error", () => undefined) // a reset counts as closed
    socket.on("close", () => (closedAt ??= Date.now()))
    socket.once("error", reject)
  })

it("silent and stalled connections are closed after the header timeout; a real request is served meanwhile", async () => {
  // The environment variable (not the flag), so the same test runs against a server without the option.
  const server = await serveInferline({ env: { INFERLINE_HEADER_TIMEOUT: String(HEADER_TIMEOUT_SECONDS) } })
  try {
    const port = Number(new URL(server.url).port)
    const opened = Date.now()
    const silent = await Promise.all(Array.from({ length: 50 }, () => connect(port)))
    const stalled = await connect(port)
    stalled.socket.write("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
    // The server serves others meanwhile.
    expect((await complete(server.url, MASTER_KEY)).status).toBe(200)
    await sleep(HEADER_TIMEOUT_SECONDS * 1000 + 2500)
    const open = silent.filter((c) => c.closedAt() === undefined).length
    expect(open, `${open} of 50 silent connections still open after ${HEADER_TIMEOUT_SECONDS + 2.5} s`).toBe(0)
    expect(stalled.closedAt(), "the stalled connection").toBeDefined()
    // Not before the timeout.
    expect(Math.min(...silent.map((c) => c.closedAt()!)) - opened).toBeGreaterThanOrEqual(HEADER_TIMEOUT_SECONDS * 1000 - 100)
    expect((await complete(server.url, MASTER_KEY)).status).toBe(200)
    for (const c of [...silent, stalled]) c.socket.destroy()
  } finally {
    await server.stop()
  }
})
