import { UploadError } from './errors.js';
import { isTerminal } from './job.js';
import type { Logger } from './pipeline-types.js';
import type { JobQueue, QueueItem } from './ports/job-queue.js';
import type { StatusStore } from './ports/status-store.js';

export interface BatchRunnerSettings {
  store: StatusStore;
  queue: JobQueue;
  logger: Logger;
  batchSize: number;
  batchTimeoutMs: number;
  /** Ends a task that outlived its chunk's timeout. */
  expire: (taskId: string, error: UploadError) => Promise<void>;
  /** Resolves when any task changes (or after a short poll interval). */
  waitForChange: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Runs a batch in chunks of `batchSize`: a chunk is enqueued, and the next one
 * only when every task of the chunk is terminal or the chunk's timeout passed
 * (its unfinished tasks then fail with `TIMEOUT`). A failed job never fails its
 * siblings.
 */
export async function runBatchInChunks(
  settings: BatchRunnerSettings,
  batchId: string,
  items: QueueItem[],
  signal: AbortSignal,
): Promise<void> {
  for (let start = 0; start < items.length && !signal.aborted; start += settings.batchSize) {
    const chunk = items.slice(start, start + settings.batchSize);
    for (const item of chunk) {
      const record = await settings.store.getTask(item.task_id);
      if (record && !isTerminal(record.state) && !record.cancel_requested) await settings.queue.add(item);
    }
    const deadline = Date.now() + settings.batchTimeoutMs;
    for (;;) {
      const records = await Promise.all(chunk.map((item) => settings.store.getTask(item.task_id)));
      const open = records.filter((record) => record && !isTerminal(record.state));
      if (open.length === 0 || signal.aborted) break;
      if (Date.now() >= deadline) {
        const error = new UploadError(
          'TIMEOUT',
          `The batch chunk did not finish within BATCH_TIMEOUT (${settings.batchTimeoutMs} ms).`,
          { stage: 'queue' },
        );
        settings.logger.warn({ batch_id: batchId, unfinished: open.length }, 'batch chunk timed out');
        await Promise.all(
          open.map((record) => settings.expire((record as { task_id: string }).task_id, error)),
        );
        break;
      }
      await settings.waitForChange(Math.min(500, Math.max(1, deadline - Date.now())), signal);
    }
  }
}
