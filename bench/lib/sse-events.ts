/** The JSON data events of a server-sent-events response body (OpenAI streaming), until `[DONE]`. */
export async function* sseEvents<T>(body: AsyncIterable<Uint8Array>): AsyncGenerator<T> {
  const decoder = new TextDecoder()
  let buffer = ""
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 2)
      if (event.startsWith("data: ") && event !== "data: [DONE]") yield JSON.parse(event.slice(6)) as T
    }
  }
}
