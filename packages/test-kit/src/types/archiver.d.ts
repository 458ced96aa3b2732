// archiver 8 is ESM-only with a class API; @types/archiver still describes v7.
declare module 'archiver' {
  import type { Stats } from 'node:fs';
  import type { Readable, Transform } from 'node:stream';

  export interface ZipArchiveOptions {
    store?: boolean;
    zlib?: { level?: number };
    forceZip64?: boolean;
    comment?: string;
  }
  export interface ZipEntryData {
    name: string;
    date?: Date | string;
    mode?: number;
    store?: boolean;
    stats?: Stats;
  }
  export interface ProgressData {
    entries: { total: number; processed: number };
    fs: { totalBytes: number; processedBytes: number };
  }
  export class ZipArchive extends Transform {
    constructor(options?: ZipArchiveOptions);
    append(source: Readable | Buffer | string, data: ZipEntryData): this;
    file(path: string, data: ZipEntryData): this;
    finalize(): Promise<void>;
    abort(): this;
    pointer(): number;
    on(event: 'progress', listener: (progress: ProgressData) => void): this;
    on(event: 'warning' | 'error', listener: (error: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
