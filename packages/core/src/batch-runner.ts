import { UploadError } from './errors.js';
import { isTerminal, type TaskRecord } from './job.js';
import type { Logger } from './pipeline-types.js';
import type { JobQueue } from './ports/job-queue.js';
import type { StatusStore } from './ports/status-store.js';

/** What moving a batch forward needs: any process that shares the store and queue can do it. */
export interface BatchAdvanceSettings {
  store: StatusStore;
  queue: JobQueue;
  batchSize: number;
}

export interface BatchRunnerSettings extends BatchAdvanceSettings {
  logger: Logger;
  batchTimeoutMs: number;
  /** Ends a task that outlived its chunk's timeout. */
  expire: (taskId: string, error: UploadError) => Promise<void>;
  /** Resolves when any task changes (or after a short poll interval). */
  waitForChange: (ms: number, signal: AbortSignal) => Promise<void>;
}

const chunkOf = (taskIds: readonly string[], index: number, size: number) =>
  taskIds.slice(index * size, (index + 1) * size);

/**
 * Enqueue the waiting tasks of the first chunk, from `fromChunk` on, that has
 * unfinished tasks; returns that chunk's index, or null when every task of the
 * batch has ended. Idempotent (queues do not add a task twice), so the process
 * that accepted the batch and every worker that finishes one of its tasks can
 * all call it: the batch moves on even if the accepting process dies.
 */
export async function advanceBatch(
  settings: BatchAdvanceSettings,
  batchId: string,
  fromChunk = 0,
): Promise<{ chunk: number; records: TaskRecord[] } | null> {
  const batch = await settings.store.getBatch(batchId);
  if (!batch) return null;
  const chunks = Math.ceil(batch.task_ids.length / settings.batchSize);
  for (let index = Math.max(0, fromChunk); index < chunks; index += 1) {
    const ids = chunkOf(batch.task_ids, index, settings.batchSize);
    const records = (await Promise.all(ids.map((id) => settings.store.getTask(id)))).filter(
      (record): record is TaskRecord => record !== null,
    );
    const open = records.filter((record) => !isTerminal(record.state));
    if (open.length === 0) continue;
    for (const record of open) {
      if (record.state === 'queued' && !record.cancel_requested) {
        await settings.queue.add({ task_id: record.task_id });
      }
    }
    return { chunk: index, records };
  }
  return null;
}

/** The chunk index of a task in its batch, for `advanceBatch` after the task ended. */
export async function chunkIndexOf(
  settings: BatchAdvanceSettings,
  batchId: string,
  taskId: string,
): Promise<number> {
  const batch = await settings.store.getBatch(batchId);
  const position = batch?.task_ids.indexOf(taskId) ?? -1;
  return position < 0 ? 0 : Math.floor(position / settings.batchSize);
}

/**
 * Runs a batch in chunks of `batchSize`: a chunk is enqueued, and the next one
 * only when every task of the chunk is terminal or the chunk's timeout passed
 * (its unfinished tasks then fail with `TIMEOUT`). A failed job never fails its
 * siblings. Workers also advance the batch when they finish one of its tasks
 * (see `advanceBatch`); this loop adds the chunk timeouts.
 */
export async function runBatchInChunks(
  settings: BatchRunnerSettings,
  batchId: string,
  signal: AbortSignal,
): Promise<void> {
  let chunk = 0;
  while (!signal.aborted) {
    const current = await advanceBatch(settings, batchId, chunk);
    if (!current) return;
    chunk = current.chunk;
    const ids = current.records.map((record) => record.task_id);
    const deadline = Date.now() + settings.batchTimeoutMs;
    for (;;) {
      const records = await Promise.all(ids.map((id) => settings.store.getTask(id)));
      const open = records.filter(
        (record): record is TaskRecord => record !== null && !isTerminal(record.state),
      );
      if (open.length === 0 || signal.aborted) break;
      if (Date.now() >= deadline) {
        const error = new UploadError(
          'TIMEOUT',
          `The batch chunk did not finish within BATCH_TIMEOUT (${settings.batchTimeoutMs} ms).`,
          { stage: 'queue' },
        );
        settings.logger.warn({ batch_id: batchId, unfinished: open.length }, 'batch chunk timed out');
        await Promise.all(open.map((record) => settings.expire(record.task_id, error)));
        // Tasks stopped elsewhere end a moment later; the next chunk starts once they have.
        await settings.waitForChange(500, signal);
        break;
      }
      await settings.waitForChange(Math.min(500, Math.max(1, deadline - Date.now())), signal);
    }
  }
}
