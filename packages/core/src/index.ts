export type { Stage, UploadErrorCode, UploadErrorJson, UploadErrorOptions } from './errors.js';
export {
  ERROR_CODES,
  isAbortError,
  isNetworkError,
  isUploadError,
  STAGES,
  toUploadError,
  UploadError,
} from './errors.js';
export type {
  BatchStatus,
  JobRequest,
  Progress,
  StageMark,
  TaskPatch,
  TaskRecord,
  TaskResult,
  TaskState,
} from './job.js';
export {
  ACTIVE_STATES,
  aggregateBatch,
  BatchRequestSchema,
  BatchStatusSchema,
  emptyCounts,
  emptyProgress,
  formatIssues,
  isTerminal,
  JobRequestSchema,
  newTaskRecord,
  ProgressSchema,
  parseJobRequest,
  StageSchema,
  TASK_STATES,
  TaskErrorSchema,
  TaskRecordSchema,
  TaskResultSchema,
  TaskStateSchema,
  TERMINAL_STATES,
  writablePatch,
} from './job.js';
export { assessLiveness, type Liveness, probeLiveness } from './liveness.js';
export {
  createMemoryMonitor,
  type MemoryMonitorOptions,
  type ReadSystemMemoryOptions,
  readSystemMemory,
  recommendedConcurrency,
} from './memory-monitor.js';
export { createMemoryQueue, type MemoryQueueOptions } from './memory-queue.js';
export { createMemoryStatusStore, type MemoryStatusStoreOptions } from './memory-status-store.js';
export type { MemoryMonitor, MemorySnapshot, SystemMemoryReading } from './memory-types.js';
export { assertUniquePaths, baseName, safeRelativePath, safeSegment } from './paths.js';
export { createUploadPipeline } from './pipeline.js';
export type {
  BatchItemResult,
  Logger,
  OrganizeFunction,
  PipelineHealth,
  PipelineStats,
  RetryPolicy,
  SubmitBatchResult,
  SubmitResult,
  UploadPipeline,
  UploadPipelineOptions,
} from './pipeline-types.js';
export * from './ports/index.js';
export { defaultOrganize } from './steps/layout.js';
export { notifyListeners, toTaskEvent } from './task-events.js';
export { backoffDelay } from './task-finish.js';
export {
  createTaskWorker,
  type TaskExecutor,
  type TaskWorker,
  type TaskWorkerOptions,
  type TaskWorkerStats,
} from './task-worker.js';
