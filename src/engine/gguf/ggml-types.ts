/**
 * ggml tensor types (ggml.h's enum ggml_type). Names are known for every id so an error can say what a
 * file holds; block sizes are known for the types this runtime dequantizes.
 */

/** Tensor types Inferline reads, with their block layout (ggml-common.h). */
export const SUPPORTED_TENSOR_TYPES = {
  F32: { id: 0, blockValues: 1, blockBytes: 4 },
  F16: { id: 1, blockValues: 1, blockBytes: 2 },
  Q4_0: { id: 2, blockValues: 32, blockBytes: 18 },
  Q5_0: { id: 6, blockValues: 32, blockBytes: 22 },
  Q8_0: { id: 8, blockValues: 32, blockBytes: 34 },
  Q4_K: { id: 12, blockValues: 256, blockBytes: 144 },
  Q6_K: { id: 14, blockValues: 256, blockBytes: 210 },
  BF16: { id: 30, blockValues: 1, blockBytes: 2 }
} as const

export type TensorType = keyof typeof SUPPORTED_TENSOR_TYPES

const GGML_TYPE_NAMES: ReadonlyArray<string | undefined> = [
  "F32", "F16", "Q4_0", "Q4_1", undefined, undefined, "Q5_0", "Q5_1", "Q8_0", "Q8_1",
  "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
  "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
  "BF16", undefined, undefined, undefined, "TQ1_0", "TQ2_0", undefined, undefined, undefined, "MXFP4",
  "NVFP4", "Q1_0", "Q2_0"
]

const BY_ID = new Map<number, TensorType>(
  Object.entries(SUPPORTED_TENSOR_TYPES).map(([name, t]) => [t.id, name as TensorType])
)

/** The supported type with this ggml id, or undefined. */
export const tensorTypeById = (id: number): TensorType | undefined => BY_ID.get(id)

/** A ggml type id as ggml names it ("Q4_1"), or "type <id>" for an id ggml does not define. */
export const ggmlTypeName = (id: number): string => GGML_TYPE_NAMES[id] ?? `type ${id}`

export const supportedTypeList = (): string => Object.keys(SUPPORTED_TENSOR_TYPES).join(", ")

/** Bytes of a row of `cols` values, or null when the row is not a whole number of blocks. */
export const rowBytes = (type: TensorType, cols: number): number | null => {
  const t = SUPPORTED_TENSOR_TYPES[type]
  return cols % t.blockValues === 0 ? (cols / t.blockValues) * t.blockBytes : null
}
