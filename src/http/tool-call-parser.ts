import { randomBytes } from "node:crypto"
import { CALL_ARGUMENTS_PREFIX, CALL_NAME_PREFIX, CALL_SUFFIX, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOL_CALL_SEPARATOR } from "../engine/guided/tool-call-grammar.ts"

/** A piece of a tool call as OpenAI streams it: id, type and name first, then arguments in pieces. */
export interface ToolCallDelta {
  readonly index: number
  readonly id?: string
  readonly type?: "function"
  readonly function: { readonly name?: string; readonly arguments: string }
}

/** What one piece of model text turned out to be: answer text and/or tool-call pieces. */
export interface ParsedPiece {
  readonly content: string
  readonly toolCalls: ReadonlyArray<ToolCallDelta>
}

export interface ToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; arguments: string }
}

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/** OpenAI-style call ids: call_ and 24 random letters and digits. */
export const toolCallId = (): string => `call_${Array.from(randomBytes(24), (b) => ALPHANUMERIC[b % 62]).join("")}`

/** Where a JSON value being read ends (the arguments' end), following strings, escapes and nesting. */
class JsonValueEnd {
  private depth = 0
  private inString = false
  private escaped = false
  private started = false
  private scalar = false

  /** Reads `text` from `from`; returns the index just past the value's end, or -1 when it goes on. */
  scan(text: string, from: number): number {
    for (let i = from; i < text.length; i++) {
      const c = text[i]
      if (!this.started) {
        this.started = true
        if (c === "{" || c === "[") this.depth = 1
        else if (c === "\"") this.inString = true
        else this.scalar = true
        continue
      }
      if (this.scalar) {
        if (!/[0-9a-zA-Z.+-]/.test(c)) return i
        continue
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (c === "\\") this.escaped = true
        else if (c === "\"") {
          this.inString = false
          if (this.depth === 0) return i + 1
        }
        continue
      }
      if (c === "\"") this.inString = true
      else if (c === "{" || c === "[") this.depth++
      else if (c === "}" || c === "]") {
        this.depth--
        if (this.depth === 0) return i + 1
      }
    }
    return -1
  }
}

type Mode = "text" | "head" | "arguments" | "tail" | "between" | "raw"

/**
 * Reads a model's answer in the Hermes tool-call format (see tool-call-grammar.ts) as it streams:
 * answer text before the first `<tool_call>` is content (a tail that may be the start of the marker is
 * held back until it is known not to be), each call's name comes out once it is complete, its arguments
 * as they arrive. The whole answer goes through the same machine, so a streamed answer reassembles to
 * exactly the non-streamed one. Guided decoding guarantees the format; text that does not follow it
 * (possible only without a grammar) is passed on as content from that point.
 */
export class ToolCallParser {
  private mode: Mode = "text"
  private buffer = ""
  private arguments: JsonValueEnd | null = null
  readonly calls: Array<ToolCall> = []

  push(text: string): ParsedPiece {
    this.buffer += text
    let content = ""
    const toolCalls: Array<ToolCallDelta> = []
    for (;;) {
      const progressed = this.step(toolCalls, (t) => (content += t))
      if (!progressed) break
    }
    return { content, toolCalls }
  }

  /** The end of the answer: held-back text is content after all (a call cut short keeps what it had). */
  end(): ParsedPiece {
    let content = ""
    if (this.mode === "text" || this.mode === "raw") content = this.buffer
    else if (this.mode === "head") content = TOOL_CALL_OPEN + this.buffer
    this.buffer = ""
    return { content, toolCalls: [] }
  }

  /** One move of the machine; false when it needs more text. */
  private step(toolCalls: Array<ToolCallDelta>, emit: (text: string) => void): boolean {
    switch (this.mode) {
      case "raw":
        emit(this.buffer)
        this.buffer = ""
        return false
      case "text": {
        const at = this.buffer.indexOf(TOOL_CALL_OPEN)
        if (at >= 0) {
          emit(this.buffer.slice(0, at))
          this.buffer = this.buffer.slice(at + TOOL_CALL_OPEN.length)
          this.mode = "head"
          return true
        }
        const hold = heldBack(this.buffer, TOOL_CALL_OPEN)
        emit(this.buffer.slice(0, this.buffer.length - hold))
        this.buffer = this.buffer.slice(this.buffer.length - hold)
        return false
      }
      case "head": {
        if (!expect(this.buffer, CALL_NAME_PREFIX)) return this.toRaw(TOOL_CALL_OPEN)
        const end = this.buffer.indexOf(CALL_ARGUMENTS_PREFIX, CALL_NAME_PREFIX.length)
        if (end < 0) return false
        const name = this.buffer.slice(CALL_NAME_PREFIX.length, end)
        const call: ToolCall = { id: toolCallId(), type: "function", function: { name, arguments: "" } }
        this.calls.push(call)
        toolCalls.push({ index: this.calls.length - 1, id: call.id, type: "function", function: { name, arguments: "" } })
        this.buffer = this.buffer.slice(end + CALL_ARGUMENTS_PREFIX.length)
        this.arguments = new JsonValueEnd()
        this.mode = "arguments"
        return true
      }
      case "arguments": {
        if (this.buffer === "") return false
        const end = this.arguments!.scan(this.buffer, 0)
        const piece = end < 0 ? this.buffer : this.buffer.slice(0, end)
        const index = this.calls.length - 1
        this.calls[index].function.arguments += piece
        toolCalls.push({ index, function: { arguments: piece } })
        this.buffer = end < 0 ? "" : this.buffer.slice(end)
        if (end >= 0) this.mode = "tail"
        return end >= 0
      }
      case "tail": {
        const tail = CALL_SUFFIX + TOOL_CALL_CLOSE
        if (!expect(this.buffer, tail)) return this.toRaw("")
        if (this.buffer.length < tail.length) return false
        this.buffer = this.buffer.slice(tail.length)
        this.mode = "between"
        return true
      }
      case "between": {
        const next = TOOL_CALL_SEPARATOR + TOOL_CALL_OPEN
        if (this.buffer === "") return false
        if (!expect(this.buffer, next)) return this.toRaw("")
        if (this.buffer.length < next.length) return false
        this.buffer = this.buffer.slice(next.length)
        this.mode = "head"
        return true
      }
    }
  }

  /** Text that does not follow the format: everything from here on is content. */
  private toRaw(prefix: string): boolean {
    this.buffer = prefix + this.buffer
    this.mode = "raw"
    return true
  }
}

/** Whether `buffer` agrees with `expected` as far as both go. */
const expect = (buffer: string, expected: string): boolean => {
  const n = Math.min(buffer.length, expected.length)
  return buffer.slice(0, n) === expected.slice(0, n)
}

/** Length of the longest tail of `text` that is a proper prefix of `marker`. */
const heldBack = (text: string, marker: string): number => {
  for (let k = Math.min(text.length, marker.length - 1); k > 0; k--) if (marker.startsWith(text.slice(text.length - k))) return k
  return 0
}
