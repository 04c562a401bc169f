import { createServer, type Server } from "node:http"
import type { Socket } from "node:net"

/** Default of `--header-timeout`: seconds a connection gets to send a request's headers. */
export const DEFAULT_HEADER_TIMEOUT_SECONDS = 10

/**
 * A Node HTTP server on which a connection must send its request headers within `timeoutMs`.
 *
 * Node enforces `headersTimeout` only once a request has begun: a connection that never sends a byte
 * is never closed (issue 16: 20 of 500 silent sockets were still open after 334 s), so a client can hold
 * sockets and file descriptors forever for free. Such a connection is closed once `timeoutMs` passes
 * with nothing read from it. One that sends part of its headers and stalls (slowloris) is Node's
 * `headersTimeout`, set to the same value and checked as often as that needs. An idle keep-alive
 * connection is Node's `keepAliveTimeout` (5 s) after its last response; an upgraded one (WebSocket)
 * has read its upgrade request, so neither is touched here.
 */
export const createServerWithHeaderTimeout = (timeoutMs: number): Server => {
  const server = createServer({
    headersTimeout: timeoutMs,
    // Node checks header and request timeouts on this interval (default 30 s).
    connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(timeoutMs / 2)))
  })
  server.on("connection", (socket: Socket) => {
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy()
    }, timeoutMs)
    timer.unref()
    socket.once("close", () => clearTimeout(timer))
  })
  return server
}
