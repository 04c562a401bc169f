import { randomUUID } from "node:crypto"

/** A client's x-request-id is kept only if it is this tame, so it is safe in logs, headers and traces. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/** The request id to use: the client's `x-request-id` when sane, else a new one. */
export const requestIdFor = (incoming: string | undefined): string =>
  incoming !== undefined && SANE_REQUEST_ID.test(incoming) ? incoming : `req_${randomUUID().replaceAll("-", "")}`
