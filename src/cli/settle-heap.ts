import * as v8 from "node:v8"
import * as vm from "node:vm"

/**
 * One full garbage collection that also shrinks the young generation, run once the server has started.
 * Startup (hundreds of modules compiled, the model loaded) grows V8's young generation to its maximum,
 * ~60 MB of this thread's RSS that stays committed while a server waits for requests: an idle isolate
 * runs no collection that would give it back. V8 offers that collection ("last resort": the one it runs
 * before giving up on memory) only through --expose-gc's `gc`, reached here without exposing it to the
 * program (it exists in a fresh context only). Where the runtime refuses, nothing happens.
 */
export const settleHeap = (): void => {
  try {
    v8.setFlagsFromString("--expose-gc")
    const gc = vm.runInNewContext("gc") as (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void
    // Contexts and worker threads made from now on get no `gc` of their own.
    v8.setFlagsFromString("--no-expose-gc")
    gc({ type: "major", execution: "sync", flavor: "last-resort" })
  } catch {
    // A runtime without the flag or the options: the server runs as it would have.
  }
}
