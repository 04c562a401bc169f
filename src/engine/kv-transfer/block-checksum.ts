import { crc32 } from "node:zlib"

/** CRC-32 of a block's bytes: catches a flipped or lost byte between the two engines. */
export const blockChecksum = (bytes: Uint8Array): number => crc32(bytes) >>> 0
