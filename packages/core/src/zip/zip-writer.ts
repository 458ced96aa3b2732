import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { createDeflateRaw, deflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';

/**
 * How entries are written. `store`: as they are (fastest; right for media);
 * `deflate`: every entry compressed; `auto`: entries whose type is already
 * compressed (jpg, png, pdf, zip, gz, mp4, …) are stored, the rest deflated.
 */
export type CompressionMode = 'store' | 'deflate' | 'auto';

/** Receives the zip's bytes in order; the writer waits for the returned promise (backpressure). */
export type ZipSink = (chunk: Buffer) => Promise<void> | void;

export interface ZipWriterOptions {
  compression: CompressionMode;
  /** Deflate level 1–9 for deflated entries. Default 1. */
  level?: number;
  /** Modification time of every entry (fixed, so the same files give the same bytes). Default 2000-01-01. */
  date?: Date;
  /** Bytes read from a file at a time. Default 1 MiB. */
  readSize?: number;
  /** Called with each piece of file data read (before compression), for progress. */
  onFileBytes?: (bytes: number) => void;
}

/** What the finished zip is. */
export interface ZipSummary {
  size: number;
  sha256: string;
  entries: number;
}

/** Extensions whose content is already compressed: deflating them costs CPU and saves nothing. */
const COMPRESSED = new Set(
  (
    'jpg jpeg jpe jfif png gif webp heic heif avif jxl jp2 ' +
    'pdf zip zipx 7z rar gz tgz bz2 tbz2 xz txz zst lz4 lzma br z cab ' +
    'mp4 m4v mov avi mkv webm wmv flv 3gp mpg mpeg ts mp3 m4a aac ogg oga opus flac wma ' +
    'docx xlsx pptx odt ods odp epub jar apk ipa woff woff2 dmg'
  ).split(' '),
);

/** True when `name`'s extension is a type that is already compressed. */
export function isCompressedType(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  return dot > 0 && COMPRESSED.has(base.slice(dot + 1));
}

const MAX32 = 0xffffffff;
const MAX16 = 0xffff;
/** Store-mode entries this close to 4 GiB get zip64 fields; deflate can grow incompressible data slightly. */
const ZIP64_MARGIN = 1024 * 1024;
/**
 * Files up to this size are read with one synchronous read: they were just
 * written (page cache), and three thread-pool round trips per file cost more
 * than the read itself when a job has thousands of small files.
 */
const SMALL_FILE = 64 * 1024;
/** Small pieces (headers, small files) are gathered into writes of about this size. */
const GATHER_BYTES = 256 * 1024;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const METHOD_STORE = 0;
const METHOD_DEFLATE = 8;
const MADE_BY_UNIX = (3 << 8) | 45;
const FILE_ATTRIBUTES = (0o100644 << 16) >>> 0;

interface CentralRecord {
  name: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressed: number;
  uncompressed: number;
  offset: number;
  zip64Local: boolean;
}

function dosDateTime(date: Date): { time: number; day: number } {
  const year = Math.max(1980, date.getUTCFullYear());
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2),
    day: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

/** Writes a 64-bit little-endian unsigned integer (safe up to 2^53). */
function writeUInt64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(value % 0x100000000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x100000000), offset + 4);
}

/**
 * A streaming zip writer: local headers, data descriptors (so nothing is
 * read twice), zip64 when an entry or the archive passes 4 GiB or 65535
 * entries, UTF-8 names flagged, CRC-32 and the archive's sha256 computed once
 * while writing. Entries are local files added one after another; the bytes
 * go to `sink` in order, and the writer waits for it (the slowest consumer
 * sets the pace, memory stays bounded).
 */
export class ZipWriter {
  private readonly hash = createHash('sha256');
  private readonly records: CentralRecord[] = [];
  private readonly level: number;
  private readonly stamp: { time: number; day: number };
  private readonly readSize: number;
  private offset = 0;
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  private finished = false;

  constructor(
    private readonly sink: ZipSink,
    private readonly options: ZipWriterOptions,
  ) {
    this.level = Math.min(9, Math.max(1, options.level ?? 1));
    this.stamp = dosDateTime(options.date ?? new Date(Date.UTC(2000, 0, 1)));
    this.readSize = options.readSize ?? 1024 * 1024;
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.offset + this.gatheredBytes;
  }

  /** Whether an entry named `name` is deflated under this writer's mode. */
  deflates(name: string): boolean {
    const mode = this.options.compression;
    return mode === 'deflate' || (mode === 'auto' && !isCompressedType(name));
  }

  /** Append the local file `path` (of `size` bytes, as announced) under `name`. */
  addFile(name: string, path: string, size: number): Promise<void> {
    return this.addEntry(name, size, (record) =>
      size <= SMALL_FILE ? this.addSmall(path, size, record) : this.addStream(path, record),
    );
  }

  /** Append `data` under `name`. */
  addBuffer(name: string, data: Buffer): Promise<void> {
    return this.addEntry(name, data.length, (record) => this.addData(data, record));
  }

  private async addEntry(
    name: string,
    size: number,
    body: (record: CentralRecord) => Promise<void>,
  ): Promise<void> {
    if (this.finished) throw new Error('the zip is already finished');
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length > MAX16) throw new Error(`entry name too long: ${name.slice(0, 80)}…`);
    const zip64Local = size >= MAX32 - ZIP64_MARGIN;
    const record: CentralRecord = {
      name: nameBytes,
      flags: FLAG_DATA_DESCRIPTOR | (/[^\x20-\x7e]/.test(name) ? FLAG_UTF8 : 0),
      method: this.deflates(name) ? METHOD_DEFLATE : METHOD_STORE,
      crc: 0,
      compressed: 0,
      uncompressed: 0,
      offset: this.bytesWritten,
      zip64Local,
    };
    await this.put(this.localHeader(record));
    await body(record);
    if (!zip64Local && (record.compressed >= MAX32 || record.uncompressed >= MAX32)) {
      throw new Error(`${name} grew past 4 GiB while it was zipped (announced ${size} bytes)`);
    }
    await this.put(this.dataDescriptor(record));
    this.records.push(record);
  }

  private async addSmall(path: string, size: number, record: CentralRecord): Promise<void> {
    // One byte more than announced, to notice a file that grew: it is then read as a stream.
    const buffer = Buffer.allocUnsafe(size + 1);
    const fd = openSync(path, 'r');
    let read = 0;
    try {
      for (;;) {
        const got = readSync(fd, buffer, read, buffer.length - read, read);
        if (got === 0) break;
        read += got;
        if (read === buffer.length) break;
      }
    } finally {
      closeSync(fd);
    }
    if (read > size) return this.addStream(path, record);
    return this.addData(buffer.subarray(0, read), record);
  }

  private async addData(data: Buffer, record: CentralRecord): Promise<void> {
    record.crc = crc32(data, record.crc);
    record.uncompressed = data.length;
    this.options.onFileBytes?.(data.length);
    const stored = record.method === METHOD_DEFLATE ? deflateRawSync(data, { level: this.level }) : data;
    record.compressed = stored.length;
    await this.put(stored);
  }

  private async addStream(path: string, record: CentralRecord): Promise<void> {
    const source = createReadStream(path, { highWaterMark: this.readSize });
    try {
      if (record.method === METHOD_DEFLATE) await this.deflateFrom(source, record);
      else {
        for await (const chunk of source) {
          const buffer = chunk as Buffer;
          record.crc = crc32(buffer, record.crc);
          record.uncompressed += buffer.length;
          this.options.onFileBytes?.(buffer.length);
          await this.put(buffer);
        }
        record.compressed = record.uncompressed;
      }
    } finally {
      source.destroy();
    }
  }

  /** Write the central directory and the end records; resolves with the zip's size and sha256. */
  async finish(): Promise<ZipSummary> {
    if (this.finished) throw new Error('the zip is already finished');
    this.finished = true;
    const start = this.bytesWritten;
    for (const record of this.records) await this.put(this.centralHeader(record));
    const size = this.bytesWritten - start;
    const count = this.records.length;
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
      await this.put(end64);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(Math.min(count, MAX16), 8);
    end.writeUInt16LE(Math.min(count, MAX16), 10);
    end.writeUInt32LE(Math.min(size, MAX32), 12);
    end.writeUInt32LE(Math.min(start, MAX32), 16);
    await this.put(end);
    await this.flush();
    return { size: this.offset, sha256: this.hash.digest('hex'), entries: count };
  }

  private async deflateFrom(source: NodeJS.ReadableStream, record: CentralRecord): Promise<void> {
    const deflater = createDeflateRaw({ level: this.level });
    const feeding = (async () => {
      for await (const chunk of source) {
        const buffer = chunk as Buffer;
        record.crc = crc32(buffer, record.crc);
        record.uncompressed += buffer.length;
        this.options.onFileBytes?.(buffer.length);
        if (!deflater.write(buffer)) await once(deflater, 'drain');
      }
      deflater.end();
    })();
    feeding.catch((error: unknown) => deflater.destroy(error as Error));
    try {
      for await (const chunk of deflater) {
        record.compressed += (chunk as Buffer).length;
        await this.put(chunk as Buffer);
      }
      await feeding;
    } finally {
      deflater.destroy();
    }
  }

  private localHeader(record: CentralRecord): Buffer {
    const extra = record.zip64Local ? 20 : 0;
    const header = Buffer.alloc(30 + record.name.length + extra);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(record.zip64Local ? 45 : 20, 4);
    header.writeUInt16LE(record.flags, 6);
    header.writeUInt16LE(record.method, 8);
    header.writeUInt16LE(this.stamp.time, 10);
    header.writeUInt16LE(this.stamp.day, 12);
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

  private dataDescriptor(record: CentralRecord): Buffer {
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

  private centralHeader(record: CentralRecord): Buffer {
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
    header.writeUInt16LE(this.stamp.time, 12);
    header.writeUInt16LE(this.stamp.day, 14);
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

  /** Gather small pieces; pass large ones on at once (after what was gathered). */
  private async put(chunk: Buffer): Promise<void> {
    if (chunk.length < GATHER_BYTES / 4) {
      this.gathered.push(chunk);
      this.gatheredBytes += chunk.length;
      if (this.gatheredBytes >= GATHER_BYTES) await this.flush();
      return;
    }
    await this.flush();
    await this.emit(chunk);
  }

  private async flush(): Promise<void> {
    if (this.gatheredBytes === 0 && this.gathered.length === 0) return;
    const chunk = this.gathered.length === 1 ? (this.gathered[0] as Buffer) : Buffer.concat(this.gathered);
    this.gathered = [];
    this.gatheredBytes = 0;
    await this.emit(chunk);
  }

  private async emit(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.hash.update(chunk);
    this.offset += chunk.length;
    await this.sink(chunk);
  }
}
