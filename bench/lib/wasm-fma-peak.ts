/**
 * The ceiling of WebAssembly's 128-bit SIMD on this machine: a loop of `f32x4.relaxed_madd` on 12
 * independent accumulators (no loads, no dependency stalls), run on 1 and on `threads` worker threads at
 * once, in GFLOP/s (2 per lane per FMA). What a WASM kernel could reach at best; bench/vs-llamacpp.ts
 * reports Inferline's prefill against it in the same run.
 */
import { Worker } from "node:worker_threads"

const ACCUMULATORS = 12
const ITERATIONS = 20_000_000

const wat = (): string => {
  const accs = Array.from({ length: ACCUMULATORS }, (_, i) => `$a${i}`)
  return `(module (func (export "fma") (param $n i32) (result f32)
    ${accs.map((a) => `(local ${a} v128)`).join(" ")} (local $x v128) (local $y v128)
    (local.set $x (v128.const f32x4 1.0000001 1 1 1)) (local.set $y (v128.const f32x4 0.9999999 1 1 1))
    (loop $l
      ${accs.map((a) => `(local.set ${a} (f32x4.relaxed_madd (local.get $x) (local.get $y) (local.get ${a})))`).join("\n      ")}
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (f32x4.extract_lane 0 ${accs.map((a) => `(local.get ${a})`).reduce((s, a) => `(f32x4.add ${s} ${a})`)})))`
}

const moduleBytes = async (): Promise<Uint8Array> => {
  const wabt = await (await import("wabt")).default()
  const m = wabt.parseWat("fma.wat", wat(), { simd: true, relaxed_simd: true })
  try {
    return m.toBinary({}).buffer
  } finally {
    m.destroy()
  }
}

/** Runs in each worker: the best of 5 timed loops (after a warm-up, so the loop runs optimized). */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads")
const inst = new WebAssembly.Instance(new WebAssembly.Module(workerData.bytes))
inst.exports.fma(1000000)
let best = 0
for (let r = 0; r < 5; r++) {
  const t = performance.now(); inst.exports.fma(workerData.iterations)
  best = Math.max(best, workerData.iterations * workerData.flopsPerIteration / ((performance.now() - t) / 1000) / 1e9)
}
parentPort.postMessage(best)`

const onThreads = (bytes: Uint8Array, threads: number): Promise<Array<number>> =>
  Promise.all(Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { bytes, iterations: ITERATIONS, flopsPerIteration: ACCUMULATORS * 8 } })
    w.once("message", (g: number) => {
      resolve(g)
      void w.terminate()
    })
    w.once("error", reject)
  })))

export const wasmFmaPeak = async (threads: number): Promise<{ perThreadGflops: number; allThreadsGflops: number; threads: number }> => {
  const bytes = await moduleBytes()
  const [one] = await onThreads(bytes, 1)
  const all = await onThreads(bytes, threads)
  return { perThreadGflops: one, allThreadsGflops: all.reduce((a, b) => a + b, 0), threads }
}
