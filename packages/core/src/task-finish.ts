import { toUploadError, UploadError } from './errors.js';
import { sleep } from './internal/async.js';
import { isTerminal, type TaskPatch, type TaskRecord } from './job.js';
import { safeRelativePath } from './paths.js';
import { removeTaskDir, taskDirPath } from './steps/temp-dir.js';
import type { TaskRunnerSettings } from './task-runner.js';

const now = () => new Date().toISOString();

/** Delay before attempt `attempt + 1`: exponential, capped, with full jitter. */
export function backoffDelay(
  attempt: number,
  retry: TaskRunnerSettings['retry'],
  random = Math.random,
): number {
  const raw = Math.min(retry.maxDelayMs, retry.baseDelayMs * retry.factor ** Math.max(0, attempt - 1));
  return retry.jitter ? Math.round(raw * random()) : raw;
}

/** A promise of another attempt in a message ("…; it will be retried."), dropped once no attempt follows. */
const RETRY_PROMISE = /[;,]?\s*it (?:will|can) be retried\b\.?/i;

/** The error as recorded on a task that ended: never promises a retry that will not come. */
function finalError(record: TaskRecord, error: UploadError): UploadError {
  if (!error.retryable && !RETRY_PROMISE.test(error.message)) return error;
  const base = error.message
    .replace(RETRY_PROMISE, '')
    .trimEnd()
    .replace(/[.;,]?$/, '.');
  const attempts = Math.max(record.attempts, 1);
  const why =
    error.code === 'CANCELLED' || error.code === 'TIMEOUT' || error.code === 'INTERRUPTED'
      ? ''
      : ` Gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}; retry the task once the cause is fixed.`;
  return new UploadError(error.code, `${base}${why}`, {
    ...(error.stage ? { stage: error.stage } : {}),
    retryable: error.retryable,
    ...(error.details === undefined ? {} : { details: error.details }),
    cause: error,
  });
}

/**
 * The one way a task ends, whatever ended it (success, a failed last attempt,
 * cancel, timeout, the queue giving up, a crashed child process): remove a
 * `.partial` a delivery of it left, remove its temp folder, call the catalog's
 * `reportResult`, then write the terminal state. Cleanup and report come first:
 * a client that sees the terminal state can rely on both. Report failures are
 * logged only.
 */
export async function finish(
  settings: TaskRunnerSettings,
  record: TaskRecord,
  error: UploadError | null,
  result: TaskRecord['result'] = null,
  /** `taskDir: false`: this process made no task folder for the task (a small job run in memory). */
  local: { taskDir?: boolean } = {},
): Promise<TaskRecord | null> {
  const state =
    error === null
      ? 'succeeded'
      : error.code === 'VALIDATION_REJECTED'
        ? 'rejected'
        : error.code === 'CANCELLED'
          ? 'cancelled'
          : 'failed';
  const recorded = error && state === 'failed' ? finalError(record, error) : error;
  const patch: TaskPatch = {
    state,
    stage: recorded?.stage ?? 'cleanup',
    error: recorded ? recorded.toJSON() : null,
    result,
    finished_at: now(),
    progress: state === 'succeeded' ? { ...record.progress, percent: 100 } : record.progress,
    ...(record.stages ? { stages: record.stages } : {}),
  };
  if (recorded && recorded.code !== 'CANCELLED') {
    settings.logger.warn(
      { task_id: record.task_id, job_id: record.job_id, code: recorded.code, stage: recorded.stage },
      recorded.message,
    );
  }
  if (state !== 'succeeded' && record.attempts > 0) await discardPartial(settings, record);
  if (local.taskDir !== false) await removeTaskDir(taskDirPath(settings.workDir, record.task_id));
  const reporter = settings.ports.catalog.reportResult;
  if (reporter) {
    try {
      await reporter.call(settings.ports.catalog, record.job, {
        task_id: record.task_id,
        state,
        result,
        error: recorded ? recorded.toJSON() : null,
      });
    } catch (reportError) {
      settings.logger.error(
        { task_id: record.task_id, code: toUploadError(reportError, 'report').code },
        'reporting the result to the catalog failed',
      );
    }
  }
  return settings.store.updateTask(record.task_id, patch);
}

/** End a task now unless it already ended (read again first: another process may have ended it). */
export async function finishUnlessEnded(
  settings: TaskRunnerSettings,
  taskId: string,
  error: UploadError,
): Promise<TaskRecord | null> {
  const record = await settings.store.getTask(taskId);
  if (!record || isTerminal(record.state)) return record;
  return finish(settings, record, error);
}

/** Shutdown: give the task back to the queue (`queued`, with an `INTERRUPTED` note); the queue or the next start runs it again. */
export async function handBack(
  settings: TaskRunnerSettings,
  taskId: string,
  note: UploadError,
): Promise<TaskRecord | null> {
  settings.logger.info({ task_id: taskId }, 'task handed back on shutdown');
  await removeTaskDir(taskDirPath(settings.workDir, taskId));
  return settings.store.updateTask(taskId, {
    state: 'queued',
    stage: 'queue',
    worker: null,
    error: note.toJSON(),
  });
}

/** What follows a failed attempt: another attempt (after the backoff), or the task's end / hand-back. */
export type AfterFailure = { retry: true; record: TaskRecord } | { retry: false; record: TaskRecord | null };

/**
 * The one retry policy, for an attempt that failed here or in a child process:
 * hand the task back on shutdown (`INTERRUPTED`), end it when the error is not
 * retryable, its attempts are used up or a stop was requested, otherwise mark it
 * `retrying` and wait `backoffDelay` (a worker stop during the wait hands it back).
 */
export async function afterFailedAttempt(
  settings: TaskRunnerSettings,
  record: TaskRecord,
  attempt: number,
  failure: UploadError,
  signal?: AbortSignal,
): Promise<AfterFailure> {
  const taskId = record.task_id;
  if (failure.code === 'INTERRUPTED') {
    return { retry: false, record: await handBack(settings, taskId, failure) };
  }
  const stored = await settings.store.getTask(taskId);
  // The attempt's last progress is only in `record` (progress writes are coalesced): keep it.
  const latest = stored
    ? { ...stored, progress: record.progress, ...(record.stages ? { stages: record.stages } : {}) }
    : record;
  if (isTerminal(latest.state)) return { retry: false, record: stored ?? latest };
  if (latest.cancel_requested) {
    const reason = failure.code === 'CANCELLED' || failure.code === 'TIMEOUT' ? failure : stopReason(latest);
    return { retry: false, record: await finish(settings, latest, reason) };
  }
  const retryable = failure.retryable && failure.code !== 'VALIDATION_REJECTED';
  if (!retryable || attempt >= latest.max_attempts) {
    return { retry: false, record: await finish(settings, latest, failure) };
  }
  const delay = backoffDelay(attempt, settings.retry);
  settings.logger.warn(
    { task_id: taskId, attempt, delay_ms: delay, code: failure.code },
    'attempt failed; retrying',
  );
  await settings.store.updateTask(taskId, {
    state: 'retrying',
    stage: 'queue',
    worker: null,
    error: failure.toJSON(),
    ...(latest.stages ? { stages: latest.stages } : {}),
  });
  try {
    await sleep(delay, signal);
  } catch {
    return {
      retry: false,
      record: await handBack(
        settings,
        taskId,
        new UploadError('INTERRUPTED', 'The worker stopped while the task waited for its next attempt.', {
          stage: 'queue',
          retryable: true,
        }),
      ),
    };
  }
  const afterWait = await settings.store.getTask(taskId);
  if (!afterWait || isTerminal(afterWait.state)) return { retry: false, record: afterWait };
  if (afterWait.cancel_requested) {
    return { retry: false, record: await finish(settings, afterWait, stopReason(afterWait)) };
  }
  return { retry: true, record: afterWait };
}

/** Best effort: remove a `.partial` an interrupted delivery of this task left at the destination. */
async function discardPartial(settings: TaskRunnerSettings, record: TaskRecord): Promise<void> {
  const destination = settings.ports.destination;
  if (!destination.discardPartial) return;
  try {
    // Bounded: cleanup must never hold the task's end hostage (e.g. an SFTP pool busy with other uploads).
    await destination.discardPartial(safeRelativePath(settings.remotePath(record.job, record.task_id)), {
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    settings.logger.warn(
      { task_id: record.task_id, code: toUploadError(error, 'cleanup').code },
      'could not remove a partial delivery',
    );
  }
}

/** Why a task flagged `cancel_requested` stops: the error recorded with the flag (e.g. a batch TIMEOUT), else CANCELLED. */
export function stopReason(record: TaskRecord): UploadError {
  const recorded = record.error;
  if (recorded && (recorded.code === 'TIMEOUT' || recorded.code === 'CANCELLED')) {
    return new UploadError(recorded.code, recorded.message, {
      ...(recorded.stage ? { stage: recorded.stage } : {}),
    });
  }
  return new UploadError('CANCELLED', 'The task was cancelled.');
}
