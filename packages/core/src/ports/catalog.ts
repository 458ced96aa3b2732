import type { UploadErrorJson } from '../errors.js';
import type { JobRequest, TaskResult, TaskState } from '../job.js';
import type { CallOptions, FileRef } from './file-ref.js';

/** How a finished task ended, for `Catalog.reportResult`. */
export interface JobOutcome {
  task_id: string;
  state: Extract<TaskState, 'succeeded' | 'failed' | 'rejected' | 'cancelled'>;
  result: TaskResult | null;
  error: UploadErrorJson | null;
}

/**
 * Which files belong to a job. Implementations: MySQL rows (`/mysql`), a
 * storage prefix (`/fs` `createPrefixCatalog`), a static list.
 */
export interface Catalog {
  /**
   * The job's files. Return an empty list when there are none (the pipeline
   * fails the task with `NO_FILES`); throw `UploadError` for failures.
   */
  listFiles(job: JobRequest, options?: CallOptions): Promise<FileRef[]>;
  /** Optional write-back once the task ends (e.g. update the job's row). Failures are logged, not fatal. */
  reportResult?(job: JobRequest, outcome: JobOutcome, options?: CallOptions): Promise<void>;
  /** Optional health check used by `/health`. */
  ping?(options?: CallOptions): Promise<void>;
  /** Release what the catalog opened itself (never an injected pool). */
  close?(): Promise<void>;
}
