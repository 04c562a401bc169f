/**
 * The generated messages of a response, for the request's span when content capture is on
 * (INFERLINE_OTEL_CAPTURE_CONTENT): from a whole chat or completions response, or gathered from a
 * stream's chunks (JSON text) as they pass. Only built when capture is on: it parses every chunk.
 */
export class CapturedOutput {
  private readonly texts = new Map<number, string>()

  /** One streamed chunk (chat: `choices[].delta.content`; completions: `choices[].text`). */
  addChunk(json: string): void {
    let chunk: { choices?: ReadonlyArray<{ index?: unknown; delta?: { content?: unknown }; text?: unknown }> }
    try {
      chunk = JSON.parse(json)
    } catch {
      return
    }
    for (const c of chunk.choices ?? []) {
      const text = typeof c.delta?.content === "string" ? c.delta.content : typeof c.text === "string" ? c.text : ""
      if (typeof c.index === "number" && text !== "") this.texts.set(c.index, (this.texts.get(c.index) ?? "") + text)
    }
  }

  /** A whole response's choices. */
  addResponse(response: unknown): void {
    const choices = (response as { choices?: ReadonlyArray<{ index?: unknown; message?: { content?: unknown }; text?: unknown }> } | null)?.choices ?? []
    for (const c of choices) {
      const text = typeof c.message?.content === "string" ? c.message.content : typeof c.text === "string" ? c.text : ""
      if (typeof c.index === "number") this.texts.set(c.index, (this.texts.get(c.index) ?? "") + text)
    }
  }

  /** OpenTelemetry's gen_ai.output.messages shape, by choice index. */
  get messages(): ReadonlyArray<{ readonly role: "assistant"; readonly index: number; readonly content: string }> {
    return [...this.texts.entries()].sort(([a], [b]) => a - b).map(([index, content]) => ({ role: "assistant", index, content }))
  }
}
