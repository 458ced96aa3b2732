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
  ping?(options?: CallOptions): Promise<void>;
  close?(): Promise<void>;
}
