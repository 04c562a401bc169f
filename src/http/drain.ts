import type { Server } from "node:http"

/** How often a draining server closes the connections that have gone idle. */
const DRAIN_SWEEP_MS = 100

/**
 * A draining server (close() called: no new connections) closes each kept-alive connection as soon as
 * its last response is done, instead of waiting for the client's keep-alive timeout (undici's is 4 s):
 * without this the process would outlive its last stream by that long. Node closes the connections
 * that are idle when close() is called; this sweeps the ones that become idle after.
 */
export const closeIdleWhileDraining = (server: Server): Server => {
  const close = server.close.bind(server)
  server.close = ((callback?: (err?: Error) => void) => {
    const sweep = setInterval(() => server.closeIdleConnections(), DRAIN_SWEEP_MS)
    sweep.unref()
    server.once("close", () => clearInterval(sweep))
    return close(callback)
  }) as Server["close"]
  return server
}
