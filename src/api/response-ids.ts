import { randomUUID } from "node:crypto"

/** Response ids in OpenAI's style: `chatcmpl-…`, `cmpl-…`. */
export const responseId = (prefix: "chatcmpl" | "cmpl") => `${prefix}-${randomUUID().replaceAll("-", "")}`

/** `created`: Unix seconds. */
export const unixSeconds = () => Math.floor(Date.now() / 1000)
