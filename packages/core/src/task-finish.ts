import { toUploadError, UploadError } from './errors.js';
import { isTerminal, type TaskPatch, type TaskRecord } from './job.js';
import { safeRelativePath } from './paths.js';
import type { TaskRunnerSettings } from './task-runner.js';

const now = () => new Date().toISOString();

/** Record the terminal state, then the optional catalog write-back (failures there are logged only). */
export async function finish(
  settings: TaskRunnerSettings,
  record: TaskRecord,
  error: UploadError | null,
  result: TaskRecord['result'] = null,
): Promise<TaskRecord | null> {
  const state =
    error === null
      ? 'succeeded'
      : error.code === 'VALIDATION_REJECTED'
        ? 'rejected'
        : error.code === 'CANCELLED'
          ? 'cancelled'
          : 'failed';
  const patch: TaskPatch = {
    state,
    stage: error?.stage ?? 'cleanup',
    error: error ? error.toJSON() : null,
    result,
    finished_at: now(),
    progress: state === 'succeeded' ? { ...record.progress, percent: 100 } : record.progress,
  };
  if (error && error.code !== 'CANCELLED') {
    settings.logger.warn(
      { task_id: record.task_id, job_id: record.job_id, code: error.code, stage: error.stage },
      error.message,
    );
  }
  // Clean up and report before the terminal state is visible: a client that sees it can rely on both.
  if (state !== 'succeeded' && record.attempts > 0) await discardPartial(settings, record);
  const reporter = settings.ports.catalog.reportResult;
  if (reporter) {
    try {
      await reporter.call(settings.ports.catalog, record.job, {
        task_id: record.task_id,
        state,
        result,
        error: error ? error.toJSON() : null,
      });
    } catch (reportError) {
      settings.logger.error(
        { task_id: record.task_id, code: toUploadError(reportError, 'report').code },
        'reporting the result to the catalog failed',
      );
    }
  }
  const updated = await settings.store.updateTask(record.task_id, patch);
  return updated;
}

/**
 * The queue gave up on a task without the handler finishing it (its workers
 * kept dying, e.g. BullMQ's max stalled count): record it as failed unless it
 * already ended. Never throws.
 */
export async function failGivenUpTask(
  settings: TaskRunnerSettings,
  taskId: string,
  error: Error,
): Promise<void> {
  const failure = new UploadError(
    'WORKER_CRASHED',
    `The queue gave up on the task: ${error.message.slice(0, 200)}. Its workers kept stopping while running it; check their logs, then retry the task.`,
    { stage: 'queue', cause: error },
  );
  try {
    const record = await settings.store.getTask(taskId);
    if (record && !isTerminal(record.state)) {
      await settings.store.updateTask(taskId, {
        state: 'failed',
        error: failure.toJSON(),
        finished_at: now(),
      });
    }
  } catch (storeError) {
    settings.logger.error({ task_id: taskId, err: String(storeError) }, 'could not record a failed task');
  }
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
