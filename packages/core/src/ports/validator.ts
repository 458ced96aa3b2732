import type { Readable } from 'node:stream';
import type { JobRequest } from '../job.js';
import type { CallOptions, LayoutEntry } from './file-ref.js';

/** The zip the pipeline built, ready to be checked. */
export interface ArchiveInfo {
  /** Absolute path of the zip on local disk (inside the task's temp folder). */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Hex sha256 of the zip, computed while it was written. */
  sha256: string;
  /** What the zip holds, in order. */
  entries: LayoutEntry[];
}

/**
 * A finished archive held in memory (a small job: nothing was written to
 * disk). Same fields as `ArchiveInfo` but the bytes instead of a path.
 */
export interface ArchiveBuffer {
  /** The whole zip. */
  data: Buffer;
  /** Size in bytes (`data.length`). */
  size: number;
  /** Hex sha256 of the zip, computed while it was written. */
  sha256: string;
  /** What the zip holds, in order. */
  entries: LayoutEntry[];
}

/** An archive still being written, for validators that read it as it is produced. */
export interface ArchiveStream {
  /**
   * The zip's bytes in order, as they are produced. Ends when the zip is
   * complete; destroyed with the error when producing it fails. Stop reading
   * only by settling `validateStream` (the pipeline then stops feeding it).
   */
  stream: Readable;
  /** Resolves with the finished archive (its local copy, size, sha256, entries) once every byte was produced. */
  complete: Promise<ArchiveInfo>;
}

export interface VerdictError {
  message: string;
  code?: string;
  path?: string;
}

export interface Verdict {
  valid: boolean;
  errors: VerdictError[];
  /** Anything else the validator said (kept in the task's error details). */
  details?: Record<string, unknown>;
}

/**
 * Checks an archive. Return `{ valid: false }` to reject (never retried); throw
 * a retryable `UploadError` when the validator could not decide (outage, 5xx).
 * Implementations: the HTTP validator API (`/http-validator`), built-in rules (`/fs`).
 */
export interface Validator {
  validate(archive: ArchiveInfo, job: JobRequest, options?: CallOptions): Promise<Verdict>;
  /**
   * Optional: check the archive while it is produced (e.g. send it as a
   * chunked request body), in the same pass that writes it to disk and to the
   * destination. Same verdict and errors as `validate`. A verdict that settles
   * before the stream ended stops the pass. Validators without it get the
   * finished local file through `validate`, while the upload goes on.
   */
  validateStream?(input: ArchiveStream, job: JobRequest, options?: CallOptions): Promise<Verdict>;
  /**
   * Optional: check an archive held in memory (small jobs, see the pipeline's
   * `inMemoryMaxBytes`). Same verdict and errors as `validate` for the same
   * bytes. Validators without it make the pipeline write every job's zip to
   * the task folder (the disk path).
   */
  validateBuffer?(archive: ArchiveBuffer, job: JobRequest, options?: CallOptions): Promise<Verdict>;
  ping?(options?: CallOptions): Promise<void>;
  close?(): Promise<void>;
}
