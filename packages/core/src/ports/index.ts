export type { Catalog, JobOutcome } from './catalog.js';
export type {
  BeginUploadOptions,
  DeliveryReceipt,
  DeliverySource,
  Destination,
  ExistingFilePolicy,
  UploadCommit,
  UploadOptions,
  UploadSession,
} from './destination.js';
export type { CallOptions, FileRef, LayoutEntry } from './file-ref.js';
export type {
  JobQueue,
  QueueCloseOptions,
  QueueCounts,
  QueueHandler,
  QueueHandlerContext,
  QueueItem,
  QueueProcessOptions,
} from './job-queue.js';
export type { CreateTaskResult, StatusStore, TaskEvent, TaskFilter } from './status-store.js';
export type { OpenedFile, Storage } from './storage.js';
export type { ArchiveInfo, ArchiveStream, Validator, Verdict, VerdictError } from './validator.js';
