/**
 * `@ncr-upload/core/internal`: helpers the sibling packages (`redis-store`,
 * `express-adapter`, `worker-runner`) share with core: the console's metric
 * buckets and task search, the memory reader's parser, and the redaction of
 * credentials in texts. Not part of the public API: names
 * and signatures may change in any release. Applications and adapters import
 * from `@ncr-upload/core` and its documented subpaths.
 */
export {
  BUCKET_MS,
  BUCKET_RETENTION_MS,
  bucketFromHash,
  bucketStart,
  durationQuantile,
  durationSlot,
  emptyBucket,
  TIMED_STAGES,
} from '../insights/buckets.js';
export { WORKER_FORGET_MS } from '../insights/memory-insights.js';
export { expandStageSpans } from '../insights/stage-marks.js';
export {
  matchesTaskQuery,
  type NormalizedTaskQuery,
  normalizeTaskQuery,
  searchValues,
  sortScores,
  textScore,
} from '../insights/task-sort.js';
export { parseInactiveFile } from '../memory-monitor.js';
export { DURATION_BOUNDS_MS } from '../ports/task-insights.js';
export { raceTimeout } from './async.js';
export { redactCredentials } from './redact.js';
