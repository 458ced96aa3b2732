import * as zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, initial?: number) => number;

let table: Uint32Array | undefined;

/** Table-driven CRC-32 (IEEE), for a Node without `zlib.crc32` (before 20.15 / 22.2). */
export function crc32Fallback(data: Uint8Array, initial = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let index = 0; index < 256; index += 1) {
      let value = index;
      for (let bit = 0; bit < 8; bit += 1) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
      table[index] = value >>> 0;
    }
  }
  let crc = ~initial >>> 0;
  for (let index = 0; index < data.length; index += 1) {
    crc = (table[(crc ^ (data[index] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

/** CRC-32 of `data`, continuing from `initial`: Node's native `zlib.crc32` where present, else the fallback. */
export const crc32: Crc32 =
  typeof (zlib as { crc32?: Crc32 }).crc32 === 'function' ? (zlib as { crc32: Crc32 }).crc32 : crc32Fallback;
