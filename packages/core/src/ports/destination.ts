import type { JobRequest } from '../job.js';
import type { CallOptions, LayoutEntry } from './file-ref.js';

/** What to deliver: the zip, or the organised folder tree. */
export type DeliverySource =
  | { kind: 'file'; path: string; size: number; sha256: string }
  | { kind: 'folder'; path: string; entries: LayoutEntry[]; size: number };

export interface UploadOptions extends CallOptions {
  /** The job, for destinations that route by it. */
  job?: JobRequest;
  /** Called as bytes are written (throttled by the caller). */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface DeliveryReceipt {
  /** Where the file (or folder) now is at the destination. */
  remote_path: string;
  /** Bytes written. */
  bytes: number;
  /** True when the policy skipped an identical existing file. */
  skipped?: boolean;
}

/** Options of `Destination.beginUpload`. */
export interface BeginUploadOptions extends CallOptions {
  /** The job, for destinations that route by it. */
  job?: JobRequest;
  /** Called as bytes reach the destination. */
  onProgress?: (bytesDone: number) => void;
}

/** What the caller knows once every byte was written. */
export interface UploadCommit {
  /** Total bytes written. */
  size: number;
  /** Hex sha256 of those bytes. */
  sha256: string;
}

/**
 * A delivery written while its bytes are produced: `write` each chunk in
 * order, then `commit` (move `<name>.partial` to the final name) or `abort`
 * (remove the `.partial`). Nothing appears under the final name before
 * `commit`. The session's signal is the one given to `beginUpload`.
 */
export interface UploadSession {
  /** Append `chunk`. Resolves when the destination can take more: awaiting it is the backpressure. */
  write(chunk: Buffer): Promise<void>;
  /**
   * Every byte was written and the archive was accepted: wait until the
   * destination holds them all, check the size, and rename to the final name
   * (applying the destination's existing-file policy).
   */
  commit(summary: UploadCommit): Promise<DeliveryReceipt>;
  /** Stop writing and remove the `.partial`. Never touches the final name; safe after a failure and twice. */
  abort(): Promise<void>;
}

/** What to do when the final name already exists. Default `overwrite`. */
export type ExistingFilePolicy = 'overwrite' | 'fail' | 'skip-if-same';

/**
 * Delivers an archive (or folder) under `remotePath`, a relative `/` path.
 * Uploads must be atomic: write `<name>.partial`, rename when complete, so a
 * reader never sees a partial file under the final name, and delivering the
 * same task twice leaves exactly one file. Implementations: SFTP (`/sftp`),
 * a local folder (`/fs`).
 */
export interface Destination {
  upload(source: DeliverySource, remotePath: string, options?: UploadOptions): Promise<DeliveryReceipt>;
  /**
   * Optional: start a streaming upload of a single file to `<remotePath>.partial`
   * (the pipeline writes the zip to it while the zip is produced and
   * validated, and commits once the validator accepted). Destinations without
   * it get the whole file through `upload` after validation.
   */
  beginUpload?(remotePath: string, options?: BeginUploadOptions): Promise<UploadSession>;
  /**
   * Optional: remove `<remotePath>.partial` if an interrupted delivery (a worker
   * killed mid-upload) left it. The pipeline calls it, best effort, when a task
   * ends without succeeding. Never touches the final name.
   */
  discardPartial?(remotePath: string, options?: CallOptions): Promise<void>;
  ping?(options?: CallOptions): Promise<void>;
  close?(): Promise<void>;
}
