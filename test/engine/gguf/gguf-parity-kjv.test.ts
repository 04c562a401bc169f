import { describeGgufParity } from "../../support/gguf-parity.ts"
import { bundledModelDir } from "../../support/models.ts"

// Every GGUF type of the bundled model against the float64 reference on its dequantized weights.
describeGgufParity("inferline-kjv", () => bundledModelDir)
