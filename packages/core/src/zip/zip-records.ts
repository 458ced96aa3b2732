// The records of a zip file (local header, data descriptor, central
// directory entry, end records), shared by the streaming writer and the
// in-place builder of small zips in memory.

/** A DOS time and date, as zip headers store them. */
export interface DosStamp {
  time: number;
  day: number;
}

export const MAX32 = 0xffffffff;
export const MAX16 = 0xffff;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_UTF8 = 0x0800;
export const METHOD_STORE = 0;
export const METHOD_DEFLATE = 8;
const MADE_BY_UNIX = (3 << 8) | 45;
const FILE_ATTRIBUTES = (0o100644 << 16) >>> 0;

export interface CentralRecord {
  name: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressed: number;
  uncompressed: number;
  offset: number;
  zip64Local: boolean;
}

/** The general-purpose flags of an entry named `name`: data descriptor, and UTF-8 for a name beyond printable ASCII. */
export function flagsOf(name: string): number {
  return FLAG_DATA_DESCRIPTOR | (/[^\x20-\x7e]/.test(name) ? FLAG_UTF8 : 0);
}

/** The DOS time and date of `date` (UTC; 1980 at the earliest). */
export function dosDateTime(date: Date): DosStamp {
  const year = Math.max(1980, date.getUTCFullYear());
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2),
    day: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

/** Writes a 64-bit little-endian unsigned integer (safe up to 2^53). */
export function writeUInt64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(value % 0x100000000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x100000000), offset + 4);
}

/** The local header of `record` (CRC and sizes follow in its data descriptor). */
export function localHeader(record: CentralRecord, stamp: DosStamp): Buffer {
  const extra = record.zip64Local ? 20 : 0;
  const header = Buffer.alloc(30 + record.name.length + extra);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(record.zip64Local ? 45 : 20, 4);
  header.writeUInt16LE(record.flags, 6);
  header.writeUInt16LE(record.method, 8);
  header.writeUInt16LE(stamp.time, 10);
  header.writeUInt16LE(stamp.day, 12);
  // CRC and sizes follow in the data descriptor; zip64 entries say so with 0xffffffff here.
  if (record.zip64Local) {
    header.writeUInt32LE(MAX32, 18);
    header.writeUInt32LE(MAX32, 22);
  }
  header.writeUInt16LE(record.name.length, 26);
  header.writeUInt16LE(extra, 28);
  record.name.copy(header, 30);
  if (record.zip64Local) {
    const at = 30 + record.name.length;
    header.writeUInt16LE(0x0001, at);
    header.writeUInt16LE(16, at + 2);
  }
  return header;
}

/** The data descriptor after `record`'s data: its CRC-32 and sizes. */
export function dataDescriptor(record: CentralRecord): Buffer {
  if (record.zip64Local) {
    const descriptor = Buffer.alloc(24);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(record.crc >>> 0, 4);
    writeUInt64(descriptor, record.compressed, 8);
    writeUInt64(descriptor, record.uncompressed, 16);
    return descriptor;
  }
  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(record.crc >>> 0, 4);
  descriptor.writeUInt32LE(record.compressed, 8);
  descriptor.writeUInt32LE(record.uncompressed, 12);
  return descriptor;
}

/** `record`'s entry in the central directory. */
export function centralHeader(record: CentralRecord, stamp: DosStamp): Buffer {
  const bigSizes = record.zip64Local || record.compressed >= MAX32 || record.uncompressed >= MAX32;
  const bigOffset = record.offset >= MAX32;
  const extraData = (bigSizes ? 16 : 0) + (bigOffset ? 8 : 0);
  const extra = extraData > 0 ? 4 + extraData : 0;
  const header = Buffer.alloc(46 + record.name.length + extra);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(MADE_BY_UNIX, 4);
  header.writeUInt16LE(extra > 0 ? 45 : 20, 6);
  header.writeUInt16LE(record.flags, 8);
  header.writeUInt16LE(record.method, 10);
  header.writeUInt16LE(stamp.time, 12);
  header.writeUInt16LE(stamp.day, 14);
  header.writeUInt32LE(record.crc >>> 0, 16);
  header.writeUInt32LE(bigSizes ? MAX32 : record.compressed, 20);
  header.writeUInt32LE(bigSizes ? MAX32 : record.uncompressed, 24);
  header.writeUInt16LE(record.name.length, 28);
  header.writeUInt16LE(extra, 30);
  header.writeUInt32LE(FILE_ATTRIBUTES, 38);
  header.writeUInt32LE(bigOffset ? MAX32 : record.offset, 42);
  record.name.copy(header, 46);
  if (extra > 0) {
    let at = 46 + record.name.length;
    header.writeUInt16LE(0x0001, at);
    header.writeUInt16LE(extraData, at + 2);
    at += 4;
    if (bigSizes) {
      writeUInt64(header, record.uncompressed, at);
      writeUInt64(header, record.compressed, at + 8);
      at += 16;
    }
    if (bigOffset) writeUInt64(header, record.offset, at);
  }
  return header;
}

/** The end records of a central directory of `count` entries at `start`, `size` bytes long (zip64 ones first when needed). */
export function endRecords(count: number, start: number, size: number): Buffer[] {
  const records: Buffer[] = [];
  if (count > MAX16 || start >= MAX32 || size >= MAX32) {
    const end64 = Buffer.alloc(56 + 20);
    end64.writeUInt32LE(0x06064b50, 0);
    writeUInt64(end64, 44, 4);
    end64.writeUInt16LE(MADE_BY_UNIX, 12);
    end64.writeUInt16LE(45, 14);
    writeUInt64(end64, count, 24);
    writeUInt64(end64, count, 32);
    writeUInt64(end64, size, 40);
    writeUInt64(end64, start, 48);
    end64.writeUInt32LE(0x07064b50, 56);
    writeUInt64(end64, start + size, 64);
    end64.writeUInt32LE(1, 72);
    records.push(end64);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Math.min(count, MAX16), 8);
  end.writeUInt16LE(Math.min(count, MAX16), 10);
  end.writeUInt32LE(Math.min(size, MAX32), 12);
  end.writeUInt32LE(Math.min(start, MAX32), 16);
  records.push(end);
  return records;
}
