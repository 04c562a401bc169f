import { Template } from "@huggingface/jinja"
import { Tokenizer } from "@huggingface/tokenizers"
import * as fs from "node:fs"
import * as path from "node:path"
import { ModelLoadError } from "./errors.ts"
import { vocabularyBytes } from "./guided/token-bytes.ts"

/**
 * A message as the chat template sees it (Hugging Face's shape): tool calls' `arguments` as objects,
 * tool results with their `tool_call_id`.
 */
export interface ChatMessage {
  readonly role: string
  readonly content: string
  readonly name?: string
  readonly tool_calls?: ReadonlyArray<unknown>
  readonly tool_call_id?: string
}

const readJson = (file: string): Record<string, unknown> => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (e) {
    throw new ModelLoadError(file, (e as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : `invalid JSON (${(e as Error).message})`)
  }
}

/** A token string from tokenizer_config.json: either a plain string or an AddedToken object. */
const tokenText = (v: unknown): string | null =>
  typeof v === "string" ? v : v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : null

/**
 * The model's tokenizer (`tokenizer.json` through `@huggingface/tokenizers`) and chat template
 * (`tokenizer_config.json` through `@huggingface/jinja`).
 */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer
  private readonly template: Template | null
  /** The template's source: whether it renders `tools` is read from it. */
  private readonly templateSource: string | null
  /** tokenizer.json, kept for the token spellings guided decoding needs (read on first use). */
  private readonly json: Record<string, unknown>
  private bytesOfTokens: ReadonlyArray<Uint8Array | null> | null = null
  readonly bosToken: string | null
  readonly eosToken: string | null
  /** Ids of every added special token (skipped when decoding with skipSpecialTokens). */
  readonly specialIds: ReadonlySet<number>

  private constructor(tokenizer: Tokenizer, config: Record<string, unknown>, templateFile: string, json: Record<string, unknown>) {
    this.tokenizer = tokenizer
    this.json = json
    this.bosToken = tokenText(config.bos_token)
    this.eosToken = tokenText(config.eos_token)
    const raw = config.chat_template
    // Some configs carry a list of named templates; "default" is the chat one.
    const source = typeof raw === "string" ? raw
      : Array.isArray(raw) ? (raw.find((t: { name?: string }) => t.name === "default") as { template?: string } | undefined)?.template ?? null
      : null
    this.templateSource = source
    try {
      this.template = source === null ? null : new Template(source)
    } catch (e) {
      throw new ModelLoadError(templateFile, `chat_template does not parse: ${(e as Error).message}`)
    }
    this.specialIds = new Set([...tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id))
  }

  static fromDir(dir: string): TextTokenizer {
    const tokFile = path.join(dir, "tokenizer.json")
    const cfgFile = path.join(dir, "tokenizer_config.json")
    const json = readJson(tokFile)
    const config = fs.existsSync(cfgFile) ? readJson(cfgFile) : {}
    let tokenizer: Tokenizer
    try {
      tokenizer = new Tokenizer(json, config)
    } catch (e) {
      throw new ModelLoadError(tokFile, `tokenizer does not load: ${(e as Error).message}`)
    }
    return new TextTokenizer(tokenizer, config, cfgFile, json)
  }

  /**
   * A tokenizer from tokenizer.json and tokenizer_config.json objects (e.g. built from GGUF metadata);
   * `source` names them in errors.
   */
  static fromObjects(json: Record<string, unknown>, config: Record<string, unknown>, source: string): TextTokenizer {
    let tokenizer: Tokenizer
    try {
      tokenizer = new Tokenizer(json, config)
    } catch (e) {
      throw new ModelLoadError(source, `tokenizer does not load: ${(e as Error).message}`)
    }
    return new TextTokenizer(tokenizer, config, source, json)
  }

  get hasChatTemplate(): boolean {
    return this.template !== null
  }

  get vocabSize(): number {
    return this.tokenizer.get_vocab(true).size
  }

  encode(text: string, addSpecialTokens = true): Array<number> {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids
  }

  /**
   * Token ids to text. No clean-up of tokenization spaces (as vLLM): the text is exactly what the tokens
   * spell, so incremental decoding of a stream concatenates to the same text as decoding it whole.
   */
  decode(ids: ReadonlyArray<number>, skipSpecialTokens = true): string {
    return this.tokenizer.decode(ids as Array<number>, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false })
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id)
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token)
  }

  /** Whether the chat template renders tool definitions (reads `tools`), as Hugging Face templates with tool support do. */
  get templateRendersTools(): boolean {
    return this.templateSource !== null && /\btools\b/.test(this.templateSource)
  }

  /**
   * The bytes each token id stands for (null for special tokens), for `size` ids: what guided decoding
   * matches grammars against. Computed once.
   */
  tokenBytes(size: number): ReadonlyArray<Uint8Array | null> {
    if (this.bytesOfTokens === null || this.bytesOfTokens.length !== size) {
      this.bytesOfTokens = vocabularyBytes(this.json, size, (id) => this.tokenizer.id_to_token(id))
    }
    return this.bytesOfTokens
  }

  /**
   * Renders messages with the model's own chat template; `tools` (OpenAI's tool objects) go to the
   * template as Hugging Face passes them, absent when there are none.
   */
  applyChatTemplate(messages: ReadonlyArray<ChatMessage>, addGenerationPrompt = true, tools?: ReadonlyArray<unknown>): string {
    if (this.template === null) throw new Error("this model has no chat template")
    return this.template.render({
      messages: messages as Array<ChatMessage>,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bosToken ?? "",
      eos_token: this.eosToken ?? "",
      ...(tools !== undefined && tools.length > 0 && { tools: tools as Array<unknown> })
    })
  }
}
