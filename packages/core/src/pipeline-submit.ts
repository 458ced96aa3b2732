import { assertDeliverable } from './deliverable.js';
import { isUploadError, UploadError } from './errors.js';
import { type JobRequest, parseJobRequest, type TaskRecord } from './job.js';
import type { SubmitResult } from './pipeline-types.js';
import type { JobQueue, QueueItem } from './ports/job-queue.js';
import type { StatusStore } from './ports/status-store.js';

const now = () => new Date().toISOString();

/** What a submission needs of the pipeline. */
export interface SubmitContext {
  store: StatusStore;
  queue: JobQueue;
  /** A status store call bounded by the pipeline's `dependencyTimeoutMs`. */
  fromStore: <T>(call: () => Promise<T>) => Promise<T>;
  /** A queue call bounded by the pipeline's `dependencyTimeoutMs`. */
  fromQueue: <T>(call: () => Promise<T>) => Promise<T>;
  /** Refuses (`NOT_ACCEPTING`, `QUEUE_FULL`) when `count` more jobs may not be taken now. */
  admit: (count: number) => Promise<void>;
  newRecord: (job: JobRequest, batchId: string | null) => TaskRecord;
  deliverable: Parameters<typeof assertDeliverable>[1];
}

/**
 * The pipeline's `submit`: validate the job, admit it, create its task and
 * queue it, in one round trip where the queue can do that with the store
 * (`JobQueue.createAndAdd`). The same job while its task is active answers
 * that task.
 */
export function createSubmit(context: SubmitContext) {
  const { store, queue, fromStore, fromQueue } = context;

  /** A task created but not queued: end it (best effort) so a retry of the submission creates a fresh one. */
  const endUnqueued = async (taskId: string, error: unknown): Promise<never> => {
    const failure = isUploadError(error)
      ? error
      : new UploadError('DEPENDENCY_UNAVAILABLE', 'The job could not be queued. Retry shortly.', {
          stage: 'queue',
          retryable: true,
          cause: error,
        });
    await fromStore(() =>
      store.updateTask(taskId, { state: 'failed', error: failure.toJSON(), finished_at: now() }),
    ).catch(() => undefined);
    throw failure;
  };

  /** Create the task and queue it: in one round trip where the queue can do that with this store. */
  const createAndQueue = async (record: TaskRecord, item: QueueItem) => {
    if (queue.createAndAdd) {
      const createAndAdd = queue.createAndAdd.bind(queue);
      // Redis unreachable or slow: both may have been written with the reply lost. Ending the task (a no-op
      // when it was not written) keeps it from running for a client that was told to retry.
      const both = await fromQueue(() => createAndAdd(store, record, item)).catch((error: unknown) =>
        isUploadError(error) && error.code !== 'DEPENDENCY_UNAVAILABLE'
          ? Promise.reject(error)
          : endUnqueued(record.task_id, error),
      );
      if (both) return { ...both, queued: true };
    }
    const result = await fromStore(() => store.createTask(record));
    return { ...result, queued: false };
  };

  return async (input: unknown, submitOptions: { priority?: number } = {}): Promise<SubmitResult> => {
    const job = parseJobRequest(input);
    assertDeliverable(job, context.deliverable);
    await context.admit(1);
    const fresh = context.newRecord(job, null);
    const priority = submitOptions.priority === undefined ? {} : { priority: submitOptions.priority };
    const { record, created, queued } = await createAndQueue(fresh, { task_id: fresh.task_id, ...priority });
    if (created && !queued) {
      try {
        await fromQueue(() => queue.add({ task_id: record.task_id, ...priority }, { created: true }));
      } catch (error) {
        await endUnqueued(record.task_id, error);
      }
    } else if (!created && record.state === 'queued' && !record.batch_id) {
      // The same job again while its task waits: queue it again (a no-op when the queue holds it), so a
      // task whose enqueue was lost in an outage runs once its client retries.
      await fromQueue(() => queue.add({ task_id: record.task_id, ...priority }));
    }
    return { task_id: record.task_id, state: record.state, created };
  };
}
