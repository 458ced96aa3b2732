import type { PipelineStats } from './pipeline-types.js';

/** What a liveness probe answers. */
export interface Liveness {
  /** `stuck`: this process consumes the queue, jobs wait, none runs here and none was taken for too long. */
  status: 'ok' | 'stuck';
  consuming: boolean;
  last_job_at: string | null;
  waiting: number;
  timestamp: string;
}

/**
 * Liveness that proves jobs are consumed, not only that the process runs: a
 * worker connected to its queue but no longer taking jobs is `stuck` once it
 * has been idle for `staleMs` while jobs wait (paused or draining is not stuck).
 */
export function assessLiveness(stats: PipelineStats, staleMs: number, now = Date.now()): Liveness {
  const since = stats.last_job_at ?? stats.consuming_since;
  const idleMs = since ? now - Date.parse(since) : 0;
  const stuck =
    stats.consuming &&
    !stats.draining &&
    !stats.queue.paused &&
    stats.active === 0 &&
    stats.queue.waiting > 0 &&
    idleMs > staleMs;
  return {
    status: stuck ? 'stuck' : 'ok',
    consuming: stats.consuming,
    last_job_at: stats.last_job_at,
    waiting: stats.queue.waiting,
    timestamp: new Date(now).toISOString(),
  };
}
