import { Console, Effect, Layer, Logger } from "effect"

/**
 * `--log-format`: text (Effect's default logger, and plain lines for the startup messages) or json
 * (one JSON object per line for every log line and startup message, for log shippers).
 */
export type LogFormat = "text" | "json"

export const logFormatLayer = (format: LogFormat): Layer.Layer<never> =>
  format === "json" ? Logger.layer([Logger.consoleJson]) : Layer.empty

/** A startup message: a plain line on stdout, or an info log line in JSON. */
export const sayFor = (format: LogFormat) => (message: string): Effect.Effect<void> =>
  format === "json" ? Effect.logInfo(message) : Console.log(message)

/** A warning printed before the runtime starts (preflight), in the same format as the log lines. */
export const warnFor = (format: LogFormat) => (message: string): void => {
  if (format === "json") console.error(JSON.stringify({ message, level: "WARN", timestamp: new Date().toISOString() }))
  else console.error(`inferline: warning: ${message}`)
}
