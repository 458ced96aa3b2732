import { type Stage, toUploadError, UploadError } from './errors.js';
import { throttle } from './internal/async.js';
import type { JobRequest, TaskRecord } from './job.js';
import { isTerminal } from './job.js';
import { safeRelativePath } from './paths.js';
import type { Logger, UploadPipelineOptions } from './pipeline-types.js';
import type { DeliveryReceipt, DeliverySource } from './ports/destination.js';
import type { LayoutEntry } from './ports/file-ref.js';
import type { StatusStore } from './ports/status-store.js';
import type { ArchiveBuffer, ArchiveInfo } from './ports/validator.js';
import { ProgressTracker } from './progress.js';
import { archiveFiles } from './steps/archive.js';
import type { StepContext } from './steps/context.js';
import { deliver } from './steps/deliver.js';
import { filesDir, startFetch } from './steps/fetch.js';
import { buildInMemory, fitsInMemory, validateAndDeliverInMemory } from './steps/in-memory.js';
import { layoutFiles } from './steps/layout.js';
import { resolveFiles } from './steps/resolve.js';
import {
  type ArchiveProducer,
  replayArchive,
  runSinglePass,
  type SinglePassResult,
} from './steps/single-pass.js';
import { createTaskDir, removeTaskDir, taskDirPath } from './steps/temp-dir.js';
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

/** What an attempt finished and the next attempt of the same run starts from. */
interface CarriedArchive {
  /** The local zip (its task folder is kept). */
  archive?: ArchiveInfo;
  /** A small job's zip in memory. */
  memory?: ArchiveBuffer;
  /** True once an attempt made the task folder (the end removes it then). */
  taskDir?: boolean;
}

/** Where an attempt got to: its stage while it runs, its last progress and stage marks once it ends. */
interface AttemptState {
  stage: Stage;
  progress: TaskRecord['progress'] | null;
  stages: TaskRecord['stages'];
}

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

async function runAttempt(
  settings: TaskRunnerSettings,
  record: TaskRecord,
  signal: AbortSignal,
  where: AttemptState,
  carried: CarriedArchive,
): Promise<NonNullable<TaskRecord['result']>> {
  const { store, ports } = settings;
  const taskId = record.task_id;
  const reuse = carried.archive && settings.delivery === 'zip' ? carried.archive : undefined;
  // Made only when the job goes the disk path (after layout, once its size is known).
  const dir = taskDirPath(settings.workDir, taskId);
  const progress = new ProgressTracker(() => {
    where.stage = progress.current;
    write.call();
  });
  // Stage and progress are coalesced: at most one write per progressIntervalMs, the first one
  // interval after the `running` write. The terminal write carries the last stage and progress,
  // so a job shorter than the interval costs no progress write at all.
  const write = throttle(
    () => {
      void store
        .updateTask(taskId, {
          stage: progress.current,
          progress: progress.snapshot(),
          stages: stageMarks(record, progress),
        })
        .catch(() => undefined);
    },
    settings.progressIntervalMs,
    { startNow: true },
  );
  const context: StepContext = { job: record.job, taskId, dir, signal, progress };
  // Removed here only after a failure that carries nothing: a success goes straight to
  // finish() (the terminal path), which removes the folder on every ending.
  let removeDir = false;
  try {
    let remotePath: string;
    try {
      remotePath = safeRelativePath(settings.remotePath(record.job, taskId));
    } catch (error) {
      throw toUploadError(error, 'deliver', 'UNSAFE_PATH');
    }
    const pass = {
      context,
      validator: ports.validator,
      destination: settings.delivery === 'zip' && settings.deliveryOverlap ? ports.destination : undefined,
      remotePath,
      onArchived: (archive: ArchiveInfo) => {
        if (settings.delivery === 'zip') carried.archive = archive;
      },
    };
    if (carried.memory) {
      // A retry of a small job: its zip is still in memory; nothing is fetched or zipped again.
      return await finishInMemory(carried.memory, remotePath, context, ports);
    }
    let entries: LayoutEntry[];
    let fetchedSize: Promise<number>;
    let outcome: SinglePassResult;
    if (reuse) {
      // A retry: the zip is on disk already; nothing is fetched or zipped again.
      progress.stage('validate');
      entries = reuse.entries;
      fetchedSize = Promise.resolve(0);
      outcome = await runSinglePass({ ...pass, produce: replayArchive(reuse, context) });
    } else {
      const files = await resolveFiles(ports.catalog, context);
      progress.stage('layout');
      entries = await layoutFiles(record.job, files, ports.organize);
      if (fitsInMemory(entries, settings.inMemoryMaxBytes, ports, settings.delivery)) {
        carried.memory = await buildInMemory(entries, context, { ...ports, ...settings });
        return await finishInMemory(carried.memory, remotePath, context, ports);
      }
      await createTaskDir(settings.workDir, taskId);
      carried.taskDir = true;
      // Fetching stops when the pass fails (a rejection before the last download).
      const stopFetch = new AbortController();
      const fetchContext = { ...context, signal: AbortSignal.any([signal, stopFetch.signal]) };
      const fetching = startFetch(ports.storage, entries, fetchContext, settings.fetchConcurrency);
      fetchedSize = fetching.done.then((fetched) => fetched.reduce((sum, file) => sum + file.size, 0));
      fetchedSize.catch(() => undefined);
      const produce: ArchiveProducer = async (tee) => {
        try {
          const [, archive] = await Promise.all([
            fetching.done,
            archiveFiles(fetching.files, context, {
              compression: settings.compression,
              level: settings.compressionLevel,
              ...(tee ? { tee } : {}),
            }),
          ]);
          return archive;
        } catch (error) {
          stopFetch.abort(error);
          throw error;
        }
      };
      outcome = await runSinglePass({ ...pass, produce });
    }
    const { archive } = outcome;
    let receipt = outcome.receipt;
    if (!receipt) {
      const source: DeliverySource =
        settings.delivery === 'zip'
          ? { kind: 'file', path: archive.path, size: archive.size, sha256: archive.sha256 }
          : { kind: 'folder', path: filesDir(dir), entries, size: await fetchedSize };
      receipt = await deliver(ports.destination, source, remotePath, context);
    }
    return resultOf(receipt, archive, entries.length);
  } catch (error) {
    // Keep the folder (and its finished zip) for the next attempt; every ending removes it.
    removeDir = carried.taskDir === true && carried.archive === undefined;
    throw error;
  } finally {
    write.cancel();
    where.progress = progress.snapshot();
    where.stages = stageMarks(record, progress);
    if (removeDir) await removeTaskDir(dir);
  }
}

/** Validate and deliver a small job's zip from memory (`steps/in-memory.ts`). */
async function finishInMemory(
  archive: ArchiveBuffer,
  remotePath: string,
  context: StepContext,
  ports: TaskRunnerSettings['ports'],
): Promise<NonNullable<TaskRecord['result']>> {
  const receipt = await validateAndDeliverInMemory(archive, remotePath, context, ports);
  return resultOf(receipt, archive, archive.entries.length);
}

/** The task's result from the delivery receipt and the archive. */
function resultOf(
  receipt: DeliveryReceipt,
  archive: { size: number; sha256: string },
  files: number,
): NonNullable<TaskRecord['result']> {
  return {
    remote_path: receipt.remote_path,
    size: archive.size,
    sha256: archive.sha256,
    files,
    ...(receipt.skipped ? { skipped: true } : {}),
  };
}

/** The task's stage marks: earlier attempts' as stored, this attempt's from its tracker. */
function stageMarks(record: TaskRecord, progress: ProgressTracker): NonNullable<TaskRecord['stages']> {
  const attempt = record.attempts;
  return [
    ...(record.stages ?? []).filter((mark) => mark.attempt !== attempt),
    ...progress.marks.map((mark) => ({ attempt, ...mark })),
  ];
}
