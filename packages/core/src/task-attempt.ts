import { type Stage, toUploadError } from './errors.js';
import { throttle } from './internal/async.js';
import type { TaskRecord } from './job.js';
import { safeRelativePath } from './paths.js';
import type { DeliveryReceipt, DeliverySource } from './ports/destination.js';
import type { LayoutEntry } from './ports/file-ref.js';
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
import type { TaskRunnerSettings } from './task-runner.js';

/** What an attempt finished and the next attempt of the same run starts from. */
export interface CarriedArchive {
  /** The local zip (its task folder is kept). */
  archive?: ArchiveInfo;
  /** A small job's zip in memory. */
  memory?: ArchiveBuffer;
  /** True once an attempt made the task folder (the end removes it then). */
  taskDir?: boolean;
}

/** Where an attempt got to: its stage while it runs, its last progress and stage marks once it ends. */
export interface AttemptState {
  stage: Stage;
  progress: TaskRecord['progress'] | null;
  stages: TaskRecord['stages'];
}

/**
 * One attempt of a task: resolve, lay out, fetch and zip, validate and
 * deliver (in memory for a small job, else in the single pass), its stage and
 * progress written at most once per `progressIntervalMs`. A retry starts from
 * what `carried` holds (the local zip, or a small job's zip in memory).
 * Resolves with the task's result; throws what stopped it, and `runTask`
 * applies the retry policy.
 */
export async function runAttempt(
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
