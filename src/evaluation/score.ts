/** One evaluator's score of one request's answer. */
export interface Score {
  /** `<request id>:<evaluator>`: the same score sent twice (a retry, a replay after a crash) is one. */
  readonly id: string
  readonly requestId: string
  readonly evaluator: string
  readonly modelGroup: string
  readonly deployment: string | null
  readonly keyId: string | null
  readonly teamId: string | null
  readonly endUser: string | null
  /** 0 (bad) .. 1 (good). */
  readonly value: number
  readonly comment: string
  /** The request's trace and span (hex), when it was traced: Langfuse links the score to them. */
  readonly traceId: string | null
  readonly spanId: string | null
  readonly createdAt: Date
}

export const scoreId = (requestId: string, evaluator: string) => `${requestId}:${evaluator}`
