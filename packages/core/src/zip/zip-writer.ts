import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { DeflatingEntry } from './deflating-entry.js';
import {
  type CentralRecord,
  centralHeader,
  dataDescriptor,
  dosDateTime,
  endRecords,
  flagsOf,
  localHeader,
  MAX16,
  MAX32,
  METHOD_DEFLATE,
  METHOD_STORE,
} from './zip-records.js';

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
  /** Bytes read from a file at a time. Default 256 KiB (peak memory: see steps/fetch.ts's WRITE_BUFFER). */
  readSize?: number;
  /** Called with each piece of file data read (before compression), for progress. */
  onFileBytes?: (bytes: number) => void;
  /**
   * Compressed bytes that a file started early with `prepareFile` may hold
   * while the file before it is still written (it is deflated on another
   * thread meanwhile; at the limit it pauses until its turn). Default 16 MiB;
   * 0 deflates one file at a time.
   */
  aheadBytes?: number;
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
  private readonly aheadBytes: number;
  /** The file started early by `prepareFile` (one at a time), until it is added. */
  private prepared: { path: string; entry: DeflatingEntry } | null = null;

  constructor(
    private readonly sink: ZipSink,
    private readonly options: ZipWriterOptions,
  ) {
    this.level = Math.min(9, Math.max(1, options.level ?? 1));
    this.stamp = dosDateTime(options.date ?? new Date(Date.UTC(2000, 0, 1)));
    this.readSize = options.readSize ?? 256 * 1024;
    this.aheadBytes = options.aheadBytes ?? 16 * 1024 * 1024;
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
    if (this.finished) return Promise.reject(new Error('the zip is already finished'));
    let early: DeflatingEntry | undefined;
    if (this.prepared?.path === path) {
      early = this.prepared.entry;
      this.prepared = null;
    }
    // Added under a name that is stored (not as prepared): its deflated bytes do not fit.
    if (early && !this.deflates(name)) {
      early.destroy();
      early = undefined;
    }
    return this.addEntry(name, size, (record) =>
      early
        ? this.drain(early, record)
        : size <= SMALL_FILE
          ? this.addSmall(path, size, record)
          : this.addStream(path, record),
    );
  }

  /**
   * The local file `path` will be added next, under `name`, and is complete
   * on disk: start deflating it now, on another thread, while the entry
   * before it is written (`aheadBytes`). Does nothing for a file that is
   * stored or small, or while another file is prepared.
   */
  prepareFile(name: string, path: string, size: number): void {
    if (this.finished || this.aheadBytes <= 0 || this.prepared) return;
    if (size <= SMALL_FILE || !this.deflates(name)) return;
    const entry = new DeflatingEntry(path, this.entryOptions());
    entry.holdUpTo(this.aheadBytes);
    this.prepared = { path, entry };
  }

  /** Abandon the zip: stop the work on a file prepared but not added; nothing more can be added. */
  discard(): void {
    this.finished = true;
    this.prepared?.entry.destroy();
    this.prepared = null;
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
      flags: flagsOf(name),
      method: this.deflates(name) ? METHOD_DEFLATE : METHOD_STORE,
      crc: 0,
      compressed: 0,
      uncompressed: 0,
      offset: this.bytesWritten,
      zip64Local,
    };
    await this.put(localHeader(record, this.stamp));
    await body(record);
    if (!zip64Local && (record.compressed >= MAX32 || record.uncompressed >= MAX32)) {
      throw new Error(`${name} grew past 4 GiB while it was zipped (announced ${size} bytes)`);
    }
    await this.put(dataDescriptor(record));
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
    if (record.method === METHOD_DEFLATE)
      return this.drain(new DeflatingEntry(path, this.entryOptions()), record);
    const source = createReadStream(path, { highWaterMark: this.readSize });
    try {
      for await (const chunk of source) {
        const buffer = chunk as Buffer;
        record.crc = crc32(buffer, record.crc);
        record.uncompressed += buffer.length;
        this.options.onFileBytes?.(buffer.length);
        await this.put(buffer);
      }
      record.compressed = record.uncompressed;
    } finally {
      source.destroy();
    }
  }

  /** Write the central directory and the end records; resolves with the zip's size and sha256. */
  async finish(): Promise<ZipSummary> {
    if (this.finished) throw new Error('the zip is already finished');
    // A file prepared but never added has nothing more to do.
    this.discard();
    const start = this.bytesWritten;
    for (const record of this.records) await this.put(centralHeader(record, this.stamp));
    const size = this.bytesWritten - start;
    const count = this.records.length;
    for (const record of endRecords(count, start, size)) await this.put(record);
    await this.flush();
    return { size: this.offset, sha256: this.hash.digest('hex'), entries: count };
  }

  private entryOptions() {
    const { onFileBytes } = this.options;
    return { level: this.level, readSize: this.readSize, ...(onFileBytes ? { onFileBytes } : {}) };
  }

  private async drain(entry: DeflatingEntry, record: CentralRecord): Promise<void> {
    await entry.drainTo((chunk) => this.put(chunk));
    record.crc = entry.crc;
    record.uncompressed = entry.uncompressed;
    record.compressed = entry.compressed;
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
