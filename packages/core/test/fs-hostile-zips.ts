import { crc32, deflateRawSync } from 'node:zlib';

/** One entry of a hand-made zip: anything a zip tool would refuse to write. */
export interface HostileEntry {
  /** Raw bytes when the name must not be valid UTF-8. */
  name: string | Buffer;
  /** The entry's real (uncompressed) bytes. Default empty. */
  data?: Buffer;
  /** Stored CRC-32. Default: the real one. */
  crc?: number;
  /** Deflate the data (method 8) instead of storing it. Default false. */
  deflate?: boolean;
  /** Declared uncompressed size. Default: the data's length. */
  declaredSize?: number;
  /** General purpose flags. Default 0x800 (UTF-8 names). */
  flags?: number;
  /** Unix mode in the external attributes (e.g. `0o120777` for a symbolic link). Default none. */
  unixMode?: number;
}

/**
 * A zip written byte by byte (no zip64), with stored or deflated entries, so
 * names, sizes and CRCs no zip tool would write can be tested.
 */
export function hostileZip(entries: HostileEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name, 'utf8');
    const data = entry.data ?? Buffer.alloc(0);
    const stored = entry.deflate ? deflateRawSync(data) : data;
    const crc = (entry.crc ?? crc32(data)) >>> 0;
    const flags = entry.flags ?? 0x800;
    const method = entry.deflate ? 8 : 0;
    const declared = entry.declaredSize ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    parts.push(local, name, stored);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    // Made by: Unix (3) when a mode is given, else MS-DOS (0).
    header.writeUInt16LE(entry.unixMode === undefined ? 20 : (3 << 8) | 20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(flags, 8);
    header.writeUInt16LE(method, 10);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(stored.length, 20);
    header.writeUInt32LE(declared, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(entry.unixMode === undefined ? 0 : (entry.unixMode << 16) >>> 0, 38);
    header.writeUInt32LE(offset, 42);
    central.push(header, name);
    offset += local.length + name.length + stored.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}

/** A zip that holds a symbolic link `link -> target` and a file written through it. */
export function symlinkZip(): Buffer {
  return hostileZip([
    { name: 'job/link.txt', data: Buffer.from('../../../etc'), unixMode: 0o120777 },
    { name: 'job/a.txt', data: Buffer.from('fine'), unixMode: 0o100644 },
  ]);
}
