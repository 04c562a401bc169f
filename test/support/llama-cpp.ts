import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from "node-llama-cpp"

/**
 * llama.cpp through node-llama-cpp (a devDependency pinned to 3.21.1), CPU only, with its prebuilt binaries:
 * never built or downloaded at test time.
 */
let llama: Promise<Llama> | null = null

export const llamaCpp = (): Promise<Llama> => {
  llama ??= getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: LlamaLogLevel.error })
  return llama
}

export const loadLlamaCppModel = async (file: string): Promise<LlamaModel> => (await llamaCpp()).loadModel({ modelPath: file })
