import type { Readable } from 'node:stream';
import type { CallOptions, FileRef } from './file-ref.js';

export interface OpenedFile {
  /** The file's bytes. The pipeline consumes it once and destroys it on abort. */
  stream: Readable;
  /** Size in bytes when known before reading (checked against the bytes received). */
  size?: number;
}

/**
 * Reads files. Implementations: S3 / Wasabi (`/s3`), a local folder (`/fs`).
 * `open` must throw `UploadError` with code `FILE_NOT_FOUND` for a missing key.
 */
export interface Storage {
  open(file: FileRef, options?: CallOptions): Promise<OpenedFile>;
  /**
   * Optional: the whole file as one buffer, for files the pipeline holds in
   * memory (small jobs, see the pipeline's `inMemoryMaxBytes`). Same errors as
   * `open` (`FILE_NOT_FOUND`, …). Storages without it are read through `open`.
   */
  read?(file: FileRef, options?: CallOptions): Promise<Buffer>;
  /** Optional: every file under a prefix (sizes included), e.g. for a prefix catalog. */
  list?(prefix: string, options?: CallOptions): AsyncIterable<FileRef>;
  /** Optional health check used by `/health`. */
  ping?(options?: CallOptions): Promise<void>;
  /** Release what the storage opened itself (never an injected client). */
  close?(): Promise<void>;
}
