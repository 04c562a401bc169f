import { Data } from "effect"

/** A router config that cannot run: the message names the offending path. */
export class RouterConfigError extends Data.TaggedError("RouterConfigError")<{ readonly message: string }> {}
