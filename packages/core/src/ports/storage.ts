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
  /**
   * Optional: read the whole file into `target`, whose length is the file's
   * expected size (the catalog's), for small jobs whose zip is built in one
   * buffer: the bytes go straight to their place in it. Resolves with the
   * file's length as read: `target.length` when it matches; less when the
   * file is shorter (only that many bytes were written); more when it is
   * longer (`target` was filled, the rest not read). Same errors as `open`
   * (`FILE_NOT_FOUND`, …). Storages without it are read through `read` or
   * `open` and copied.
   */
  readInto?(file: FileRef, target: Buffer, options?: CallOptions): Promise<number>;
  /** Optional: every file under a prefix (sizes included), e.g. for a prefix catalog. */
  list?(prefix: string, options?: CallOptions): AsyncIterable<FileRef>;
  /** Optional health check used by `/health`. */
  ping?(options?: CallOptions): Promise<void>;
  /** Release what the storage opened itself (never an injected client). */
  close?(): Promise<void>;
}
