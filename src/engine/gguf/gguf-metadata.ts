import { ModelLoadError } from "../errors.ts"
import type { GgufValue } from "./gguf-file.ts"

const describe = (v: GgufValue): string =>
  typeof v === "string" ? JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)
    : typeof v === "object" ? `an array of ${v.length}` : `${typeof v} ${String(v)}`

const isNumericArray = (v: GgufValue): v is Exclude<GgufValue, number | bigint | boolean | string | ReadonlyArray<unknown>> =>
  ArrayBuffer.isView(v) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)

/** Typed access to GGUF metadata; a missing or mistyped key is a ModelLoadError naming the key. */
export class GgufMetadata {
  readonly file: string
  private readonly values: ReadonlyMap<string, GgufValue>

  constructor(file: string, values: ReadonlyMap<string, GgufValue>) {
    this.file = file
    this.values = values
  }

  has(key: string): boolean {
    return this.values.has(key)
  }

  private get(key: string): GgufValue | undefined {
    return this.values.get(key)
  }

  private fail(key: string, want: string, got: GgufValue): never {
    throw new ModelLoadError(this.file, `metadata "${key}" must be ${want}, got ${describe(got)}`)
  }

  private missing(key: string): never {
    throw new ModelLoadError(this.file, `missing required metadata "${key}"`)
  }

  /** A non-negative integer (any integer value type). */
  uint(key: string, fallback?: number): number {
    const v = this.get(key)
    if (v === undefined) return fallback ?? this.missing(key)
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) this.fail(key, "a non-negative integer", v)
    return v
  }

  float(key: string, fallback?: number): number {
    const v = this.get(key)
    if (v === undefined) return fallback ?? this.missing(key)
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, "a finite number", v)
    return v
  }

  string(key: string, fallback?: string): string {
    const v = this.get(key)
    if (v === undefined) return fallback ?? this.missing(key)
    if (typeof v !== "string") this.fail(key, "a string", v)
    return v
  }

  optionalString(key: string): string | null {
    return this.has(key) ? this.string(key) : null
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.get(key)
    if (v === undefined) return fallback ?? this.missing(key)
    if (typeof v !== "boolean") this.fail(key, "a bool", v)
    return v
  }

  optionalUint(key: string): number | null {
    return this.has(key) ? this.uint(key) : null
  }

  stringArray(key: string): ReadonlyArray<string> {
    const v = this.get(key)
    if (v === undefined) return this.missing(key)
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) this.fail(key, "an array of strings", v)
    return v as ReadonlyArray<string>
  }

  numberArray(key: string): ArrayLike<number> {
    const v = this.get(key)
    if (v === undefined) return this.missing(key)
    if (!isNumericArray(v)) this.fail(key, "an array of numbers", v)
    return v as ArrayLike<number>
  }
}
