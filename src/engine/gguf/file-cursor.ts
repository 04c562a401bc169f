import * as fs from "node:fs"
import { ModelLoadError } from "../errors.ts"

const WINDOW = 1 << 20

/**
 * Sequential little-endian reads from a file through a bounded window, so that parsing a header never
 * reads the file whole. Every read is bounds-checked: running off the end is a ModelLoadError naming what
 * was being read and where, never a short read taken for data.
 */
export class FileCursor {
  readonly file: string
  readonly size: number
  private readonly fd: number
  private buf = Buffer.alloc(0)
  private bufStart = 0
  private bufLen = 0
  /** Absolute offset of the next read. */
  pos = 0

  constructor(file: string, fd: number) {
    this.file = file
    this.fd = fd
    this.size = fs.fstatSync(fd).size
  }

  get remaining(): number {
    return this.size - this.pos
  }

  fail(message: string): never {
    throw new ModelLoadError(this.file, message)
  }

  /** Offset into `buf` of `n` bytes at `pos` (loading them), then advances `pos`. */
  private take(n: number, what: string): number {
    if (n > this.remaining) {
      this.fail(`file ends at byte ${this.size} while reading ${what} (${n} bytes needed at byte ${this.pos}): truncated or corrupt GGUF`)
    }
    const end = this.pos + n
    if (this.pos < this.bufStart || end > this.bufStart + this.bufLen) {
      const len = Math.min(Math.max(n, WINDOW), this.size - this.pos)
      if (this.buf.length < len) this.buf = Buffer.alloc(len)
      const got = fs.readSync(this.fd, this.buf, 0, len, this.pos)
      if (got < n) this.fail(`short read at byte ${this.pos} while reading ${what}`)
      this.bufStart = this.pos
      this.bufLen = got
    }
    const at = this.pos - this.bufStart
    this.pos = end
    return at
  }

  u8(what: string): number {
    return this.buf.readUInt8(this.take(1, what))
  }

  i8(what: string): number {
    return this.buf.readInt8(this.take(1, what))
  }

  u16(what: string): number {
    return this.buf.readUInt16LE(this.take(2, what))
  }

  i16(what: string): number {
    return this.buf.readInt16LE(this.take(2, what))
  }

  u32(what: string): number {
    return this.buf.readUInt32LE(this.take(4, what))
  }

  i32(what: string): number {
    return this.buf.readInt32LE(this.take(4, what))
  }

  u64(what: string): bigint {
    return this.buf.readBigUInt64LE(this.take(8, what))
  }

  i64(what: string): bigint {
    return this.buf.readBigInt64LE(this.take(8, what))
  }

  f32(what: string): number {
    return this.buf.readFloatLE(this.take(4, what))
  }

  f64(what: string): number {
    return this.buf.readDoubleLE(this.take(8, what))
  }

  /** A u64 count or length that must fit in the rest of the file at `minBytesEach` bytes per item. */
  count(what: string, minBytesEach: number): number {
    const n = this.u64(what)
    if (n * BigInt(minBytesEach) > BigInt(this.remaining)) {
      this.fail(`${what} is ${n}, more than the ${this.remaining} bytes left in the file can hold: truncated or corrupt GGUF`)
    }
    return Number(n)
  }

  /** A GGUF string: u64 byte length, then UTF-8 bytes without a terminator. */
  string(what: string): string {
    const n = this.count(`length of ${what}`, 1)
    const at = this.take(n, what)
    return this.buf.toString("utf8", at, at + n)
  }

  /** Copies `n` raw bytes at `pos` (for typed arrays), advancing. */
  bytes(n: number, what: string): Uint8Array {
    const at = this.take(n, what)
    return Uint8Array.prototype.slice.call(this.buf, at, at + n)
  }

  skipTo(offset: number, what: string): void {
    if (offset > this.size) this.fail(`file ends at byte ${this.size} before ${what} at byte ${offset}: truncated GGUF`)
    this.pos = offset
  }
}
