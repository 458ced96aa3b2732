import type { PipelineStats, UploadPipeline } from './pipeline-types.js';

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

/**
 * Liveness of this process now. When the queue cannot be read (its Redis is
 * down: `stats()` fails within a second), the task worker's own figures decide
 * and the answer is `ok`: an outage of a dependency is no reason to restart this process.
 */
export async function probeLiveness(
  pipeline: Pick<UploadPipeline, 'stats' | 'worker'>,
  staleMs: number,
): Promise<Liveness> {
  const stats = await pipeline.stats().catch(() => null);
  if (stats) return assessLiveness(stats, staleMs);
  const local = pipeline.worker.stats();
  return {
    status: 'ok',
    consuming: local.consuming,
    last_job_at: local.last_job_at,
    waiting: 0,
    timestamp: new Date().toISOString(),
  };
}
