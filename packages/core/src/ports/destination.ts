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
   * Optional: remove `<remotePath>.partial` if an interrupted delivery (a worker
   * killed mid-upload) left it. The pipeline calls it, best effort, when a task
   * ends without succeeding. Never touches the final name.
   */
  discardPartial?(remotePath: string, options?: CallOptions): Promise<void>;
  ping?(options?: CallOptions): Promise<void>;
  close?(): Promise<void>;
}
