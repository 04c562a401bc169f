/**
 * Entry of a tensor-parallel helper thread: attaches to the shared kernel memory and serves its rank's
 * share of every operation rank 0 posts (see parallel-group.ts), until the thread is terminated.
 */
import { workerData } from "node:worker_threads"
import { WasmArena } from "./arena.ts"
import { parallelWork, type HelperInit } from "./parallel-group.ts"

const init = workerData as HelperInit
parallelWork(WasmArena.attach(init.memory, init.weightMemories), init.control, init.rank, init.size).serve()
