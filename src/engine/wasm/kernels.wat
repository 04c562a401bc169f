;; Hand-written WASM kernels (the body of the module; tools/build-wasm.ts adds the imported shared memory
;; and the generated matmuls of tools/wasm-matmul.ts). Pointers are byte offsets into the shared memory.
