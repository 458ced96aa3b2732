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
  QueueAddOptions,
  QueueCloseOptions,
  QueueConsumer,
  QueueCounts,
  QueueHandler,
  QueueHandlerContext,
  QueueItem,
  QueueProcessOptions,
  QueueStopOptions,
} from './job-queue.js';
export type {
  CreateTaskResult,
  JobKey,
  StartedAttempt,
  StatusStore,
  TaskEvent,
  TaskFilter,
} from './status-store.js';
export type { OpenedFile, Storage } from './storage.js';
export {
  BUCKET_STATES,
  type BucketState,
  DURATION_BOUNDS_MS,
  defaultWorkerControl,
  MAX_SEARCH_MATCHES,
  MAX_TASK_PAGE,
  type MetricBucket,
  type MetricResolution,
  mergeWorkerControl,
  type StageSpan,
  TASK_SORT_FIELDS,
  type TaskInsights,
  type TaskPage,
  type TaskQuery,
  type TaskSortField,
  type WorkerControl,
  type WorkerControlChange,
  type WorkerHeartbeat,
  type WorkerView,
} from './task-insights.js';
export type {
  ArchiveBuffer,
  ArchiveInfo,
  ArchiveStream,
  Validator,
  Verdict,
  VerdictError,
} from './validator.js';
