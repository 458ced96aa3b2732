import { toUploadError, UploadError } from './errors.js';
import type { JobRequest, TaskRecord } from './job.js';
import { isTerminal } from './job.js';
import type { Logger, UploadPipelineOptions } from './pipeline-types.js';
import type { StatusStore } from './ports/status-store.js';
import { type AttemptState, type CarriedArchive, runAttempt } from './task-attempt.js';
import { afterFailedAttempt, finish, stopReason } from './task-finish.js';
import type { CompressionMode } from './zip/zip-writer.js';

export interface TaskRunnerSettings {
  ports: Pick<UploadPipelineOptions, 'catalog' | 'storage' | 'validator' | 'destination' | 'organize'>;
  store: StatusStore;
  logger: Logger;
  workDir: string;
  workerId: string;
  fetchConcurrency: number;
  /** How zip entries are written. */
  compression: CompressionMode;
  /** Deflate level 1–9 for deflated entries. */
  compressionLevel: number;
  delivery: 'zip' | 'folder';
  /** Stream the zip to the destination while it is validated (commit once accepted). */
  deliveryOverlap: boolean;
  /** Jobs whose files add up to at most this many bytes run in memory (no task folder); 0 turns it off. */
  inMemoryMaxBytes: number;
  remotePath: (job: JobRequest, taskId: string) => string;
  jobTimeoutMs: number;
  progressIntervalMs: number;
  /** Fallback poll for a stop requested by another process (events deliver it sooner). */
  cancelCheckIntervalMs: number;
  retry: { attempts: number; baseDelayMs: number; maxDelayMs: number; factor: number; jitter: boolean };
  /** Aborts running attempts: the pipeline's cancel and batch timeouts use it. */
  controllers: Map<string, AbortController>;
  onJobTaken: () => void;
}

const now = () => new Date().toISOString();

export const defaultRemotePath = (delivery: 'zip' | 'folder') => (job: JobRequest) =>
  `${job.campaign}/${job.username}/${job.job_id}${delivery === 'zip' ? '.zip' : ''}`;

/**
 * Runs one task in this process to a terminal state (or hands it back when
 * `signal`, the worker's own signal, aborts during shutdown): its attempts
 * (`runAttempt`), with the retry policy of `afterFailedAttempt` between them,
 * and its end through `finish`. Never throws for job failures: they are
 * recorded in the status store. The task worker (`createTaskWorker`) calls it.
 */
export async function runTask(
  settings: TaskRunnerSettings,
  taskId: string,
  signal?: AbortSignal,
): Promise<TaskRecord | null> {
  const { store, logger } = settings;
  // Where the store can, taking the task and marking it running are one call.
  const claim = store.startAttempt
    ? await store.startAttempt(taskId, { worker: settings.workerId })
    : undefined;
  let record = claim === undefined ? await store.getTask(taskId) : (claim?.record ?? null);
  /** The first attempt was started by `startAttempt` already. */
  let started = claim?.started === true;
  if (!record) {
    logger.warn({ task_id: taskId }, 'queued task not found in the status store; skipped');
    return null;
  }
  if (isTerminal(record.state)) return record;
  if (record.cancel_requested)
    return finish(
      settings,
      record,
      new UploadError('CANCELLED', 'The task was cancelled.', { stage: 'queue' }),
    );
  settings.onJobTaken();
  /** A complete local zip from an earlier attempt of this run: a retry starts from it. */
  const carried: CarriedArchive = {};

  for (;;) {
    const attempt = started ? record.attempts : record.attempts + 1;
    const controller = new AbortController();
    settings.controllers.set(taskId, controller);
    const onWorkerAbort = () =>
      controller.abort(
        new UploadError(
          'INTERRUPTED',
          'The worker stopped while the task ran; it was handed back to the queue.',
          { retryable: true },
        ),
      );
    signal?.addEventListener('abort', onWorkerAbort, { once: true });
    if (signal?.aborted) onWorkerAbort();
    const timer = setTimeout(
      () =>
        controller.abort(
          new UploadError(
            'TIMEOUT',
            `The job ran longer than its timeout (${settings.jobTimeoutMs} ms). Raise JOB_TIMEOUT or split the job.`,
          ),
        ),
      settings.jobTimeoutMs,
    );
    timer.unref?.();
    const checkStop = () => {
      store.getTask(taskId).then(
        (latest) => {
          if (latest?.cancel_requested) controller.abort(stopReason(latest));
        },
        () => undefined,
      );
    };
    const cancelPoll = setInterval(checkStop, settings.cancelCheckIntervalMs);
    cancelPoll.unref?.();
    // A stop requested by another process records its error on the running task, so the
    // event of that write carries an error code: read the record then, not only on the poll.
    const stopEvents = store.subscribe?.((event) => {
      if (event.task_id === taskId && event.error_code !== null && !controller.signal.aborted) checkStop();
    });

    let outcome: { result: NonNullable<TaskRecord['result']> } | { error: UploadError };
    const where: AttemptState = { stage: 'resolve', progress: null, stages: record.stages };
    try {
      if (!started) {
        record =
          (await store.updateTask(taskId, {
            state: 'running',
            stage: 'resolve',
            attempts: attempt,
            started_at: record.started_at ?? now(),
            worker: settings.workerId,
            error: null,
          })) ?? record;
      }
      started = false;
      outcome = { result: await runAttempt(settings, record, controller.signal, where, carried) };
    } catch (error) {
      const reason = controller.signal.aborted ? controller.signal.reason : error;
      outcome = { error: toUploadError(reason, where.stage) };
    } finally {
      clearTimeout(timer);
      clearInterval(cancelPoll);
      stopEvents?.();
      signal?.removeEventListener('abort', onWorkerAbort);
      settings.controllers.delete(taskId);
    }

    if (where.progress) record = { ...record, progress: where.progress };
    if (where.stages) record = { ...record, stages: where.stages };
    if ('result' in outcome) {
      return finish(settings, record, null, outcome.result, { taskDir: carried.taskDir === true });
    }
    const next = await afterFailedAttempt(settings, record, attempt, outcome.error, signal);
    if (!next.retry) return next.record;
    record = next.record;
  }
}
