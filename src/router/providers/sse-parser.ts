/**
 * Incremental server-sent-events parsing: text chunks in (split anywhere), the `data` of each complete
 * event out. Only what routing needs: `event:` names are dropped (OpenAI and Anthropic both repeat the
 * type inside the JSON), comments and ids ignored.
 */
export class SseParser {
  private buffer = ""
  private data: Array<string> = []

  /** The data payloads of the events completed by this chunk. */
  push(chunk: string): Array<string> {
    const out: Array<string> = []
    this.buffer += chunk
    let start = 0
    for (;;) {
      const nl = this.buffer.indexOf("\n", start)
      if (nl < 0) break
      let line = this.buffer.slice(start, nl)
      start = nl + 1
      if (line.endsWith("\r")) line = line.slice(0, -1)
      if (line === "") {
        if (this.data.length > 0) out.push(this.data.join("\n"))
        this.data = []
      } else if (line.startsWith("data:")) {
        this.data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5))
      }
    }
    this.buffer = this.buffer.slice(start)
    return out
  }
}
