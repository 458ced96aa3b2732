import * as core from '@ncr-upload/core';
import * as internal from '@ncr-upload/core/internal';
import { describe, expect, it } from 'vitest';

/**
 * The values `@ncr-upload/core` exports at its root: what applications and
 * adapter authors use. A new root export is a decision: add it here when users
 * need it; otherwise export it from `@ncr-upload/core/internal` (shared with the
 * sibling packages, no compatibility promise) or not at all.
 */
const ROOT = [
  'ACTIVE_STATES',
  'BUCKET_STATES',
  'BatchRequestSchema',
  'BatchStatusSchema',
  'DURATION_BOUNDS_MS',
  'ERROR_CODES',
  'JobRequestSchema',
  'MAX_SEARCH_MATCHES',
  'MAX_TASK_PAGE',
  'ProgressSchema',
  'STAGES',
  'StageSchema',
  'TASK_SORT_FIELDS',
  'TASK_STATES',
  'TERMINAL_STATES',
  'TaskErrorSchema',
  'TaskRecordSchema',
  'TaskResultSchema',
  'TaskStateSchema',
  'UploadError',
  'aggregateBatch',
  'assertUniquePaths',
  'assessLiveness',
  'probeLiveness',
  'backoffDelay',
  'baseName',
  'createMemoryMonitor',
  'createMemoryQueue',
  'createMemoryStatusStore',
  'createTaskWorker',
  'createUploadPipeline',
  'defaultOrganize',
  'defaultWorkerControl',
  'emptyCounts',
  'emptyProgress',
  'formatIssues',
  'isAbortError',
  'isNetworkError',
  'isTerminal',
  'isUploadError',
  'mergeWorkerControl',
  'newTaskRecord',
  'notifyListeners',
  'parseJobRequest',
  'readSystemMemory',
  'recommendedConcurrency',
  'safeRelativePath',
  'safeSegment',
  'toTaskEvent',
  'toUploadError',
  'writablePatch',
];

describe('public surface of @ncr-upload/core', () => {
  it('exports at its root exactly the documented values', () => {
    expect(Object.keys(core).sort()).toEqual([...ROOT].sort());
  });

  it('keeps step internals out, and sibling-only helpers under /internal', () => {
    for (const name of ['fetchFiles', 'runTask', 'archiveFiles', 'mapLimit', 'assertDeliverable'])
      expect(core, name).not.toHaveProperty(name);
    for (const name of ['BUCKET_MS', 'normalizeTaskQuery', 'parseInactiveFile', 'WORKER_FORGET_MS']) {
      expect(core, name).not.toHaveProperty(name);
      expect(internal, name).toHaveProperty(name);
    }
  });
});
