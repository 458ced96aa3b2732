import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { advanceBatch, chunkIndexOf } from './batch-runner.js';
import { toUploadError, UploadError } from './errors.js';
import { withTimeout } from './internal/async.js';
import { isTerminal, type TaskRecord } from './job.js';
import { patientStore } from './patient-store.js';
import type { Logger, UploadPipelineOptions } from './pipeline-types.js';
import type { JobQueue, QueueConsumer, QueueHandler, QueueItem } from './ports/job-queue.js';
import type { StatusStore } from './ports/status-store.js';
import { removeTaskDir, taskDirPath } from './steps/temp-dir.js';
import { afterFailedAttempt, finish, finishUnlessEnded } from './task-finish.js';
import { defaultRemotePath, runTask, type TaskRunnerSettings } from './task-runner.js';

/** What a task worker needs: the ports a task runs through, the status store, and the run settings. */
export interface TaskWorkerOptions
  extends Pick<
    UploadPipelineOptions,
    | 'catalog'
    | 'storage'
    | 'validator'
    | 'destination'
    | 'organize'
    | 'remotePath'
    | 'delivery'
    | 'workDir'
    | 'fetchConcurrency'
    | 'compression'
    | 'compressionLevel'
    | 'deliveryOverlap'
    | 'inMemoryMaxBytes'
    | 'retry'
    | 'jobTimeoutMs'
    | 'batchSize'
    | 'workerId'
    | 'logger'
    | 'progressIntervalMs'
    | 'cancelCheckIntervalMs'
  > {
  /** Where task records live (required: a worker never owns the store). */
  statusStore: StatusStore;
  /**
   * The queue tasks come from: `consume` takes items from it, `end` removes a
   * waiting item from it, batches move on through it. Optional for a worker
   * that only runs tasks it is handed (a runner child process).
   */
  queue?: JobQueue;
  /**
   * How long a task's status writes and reads are tried again while the store
   * is unreachable (e.g. a Redis restart) before the task gives up on them. Default 60000.
   */
  storeRetryMs?: number;
}

/**
 * Runs a task somewhere else (a runner child process) and resolves once the
 * task ended or was handed back there. Rejects when the run itself broke (the
 * process crashed, hit a hard time limit, could not start): the worker then
 * applies the retry policy or ends the task.
 */
export type TaskExecutor = (item: QueueItem, context: { signal: AbortSignal }) => Promise<void>;

export interface TaskWorkerStats {
  /** Items this worker is running now. */
  active: number;
  /** True between `consume()` and `stop()`. */
  consuming: boolean;
  /** When `consume()` was called, or null. */
  consuming_since: string | null;
  /** True once `stop()` began. */
  draining: boolean;
  /** When this worker last took an item, or null. */
  last_job_at: string | null;
}

/**
 * The worker side of a task's life, in one place: it consumes the queue and
 * owns every state change of a task it runs (run, retry with the one retry
 * policy, hand back, fail, give up, cancel, time out). Every ending goes
 * through `finish` (partial delivery discarded, temp folder removed, catalog
 * `reportResult`, then the terminal state).
 */
export interface TaskWorker {
  readonly workerId: string;
  /** Absolute temp folder root. */
  readonly workDir: string;
  /**
   * Consume the queue (`options.queue`), `concurrency` items at once. Each item
   * runs in this process, or through `execute` (child processes). Call once.
   */
  consume(options: { concurrency: number; execute?: TaskExecutor }): void;
  /** Run one task in this process to its end or hand-back. Never throws for job failures. */
  run(taskId: string, options?: { signal?: AbortSignal }): Promise<TaskRecord | null>;
  /**
   * End a task that has not ended (cancel, batch timeout): abort its attempt
   * running here, flag it for the process that runs it, or end it now when it
   * waits in the queue.
   */
  end(taskId: string, error: UploadError): Promise<void>;
  /** The queue gave up on a task (its workers kept dying): end it as `WORKER_CRASHED`. Never throws. */
  giveUp(taskId: string, error: Error): Promise<void>;
  /**
   * Stop consuming: running tasks get `timeoutMs` (default 30000) to end, then
   * are handed back; waiting items stay in the queue. Idempotent.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  stats(): TaskWorkerStats;
  /** The settings tasks run with (defaults applied). */
  readonly settings: TaskRunnerSettings;
}

/** Default `inMemoryMaxBytes`: jobs of up to 4 MiB run in memory. */
export const DEFAULT_IN_MEMORY_MAX_BYTES = 4 * 1024 * 1024;

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const now = () => new Date().toISOString();

/** Create the object that consumes a queue and owns the life of each task it runs. */
export function createTaskWorker(options: TaskWorkerOptions): TaskWorker {
  const delivery = options.delivery ?? 'zip';
  const logger = options.logger ?? silentLogger;
  // Worker-side calls ride out a short outage of the store (the API side fails fast instead).
  const store = patientStore(options.statusStore, {
    retryForMs: options.storeRetryMs ?? 60_000,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const queue = options.queue;
  const batchSize = options.batchSize ?? 5;
  let lastJobAt: string | null = null;
  let consumingSince: string | null = null;
  let consumer: QueueConsumer | null = null;
  let stopping: Promise<void> | null = null;
  const inFlight = new Set<Promise<void>>();
  const runningHere = new Set<string>();

  const settings: TaskRunnerSettings = {
    ports: options,
    store,
    logger,
    workDir: resolve(options.workDir ?? join(tmpdir(), 'ncr-upload')),
    workerId: options.workerId ?? `${hostname()}:${process.pid}`,
    fetchConcurrency: options.fetchConcurrency ?? 4,
    compression: options.compression ?? ((options.compressionLevel ?? 0) > 0 ? 'deflate' : 'store'),
    compressionLevel: Math.max(1, options.compressionLevel ?? 1),
    delivery,
    deliveryOverlap: options.deliveryOverlap ?? true,
    inMemoryMaxBytes: options.inMemoryMaxBytes ?? DEFAULT_IN_MEMORY_MAX_BYTES,
    remotePath: options.remotePath ?? defaultRemotePath(delivery),
    jobTimeoutMs: options.jobTimeoutMs ?? 1_800_000,
    progressIntervalMs: options.progressIntervalMs ?? 250,
    cancelCheckIntervalMs: options.cancelCheckIntervalMs ?? (options.statusStore.subscribe ? 5000 : 1000),
    retry: {
      attempts: options.retry?.attempts ?? 3,
      baseDelayMs: options.retry?.baseDelayMs ?? 1000,
      maxDelayMs: options.retry?.maxDelayMs ?? 30_000,
      factor: options.retry?.factor ?? 2,
      jitter: options.retry?.jitter ?? true,
    },
    controllers: new Map(),
    onJobTaken: () => {
      lastJobAt = now();
    },
  };

  /**
   * After a task ends here: start the next chunk of its batch if this one is done. `ended` is the
   * record its run returned (read again when not given). Never throws.
   */
  const moveBatchOn = async (taskId: string, ended?: TaskRecord | null) => {
    if (!queue) return;
    try {
      const record = ended === undefined ? await store.getTask(taskId) : ended;
      if (!record?.batch_id || !isTerminal(record.state)) return;
      const advance = { store, queue, batchSize };
      await advanceBatch(advance, record.batch_id, await chunkIndexOf(advance, record.batch_id, taskId));
    } catch (error) {
      logger.warn({ task_id: taskId, err: String(error) }, 'could not start the next chunk of the batch');
    }
  };

  /** Run an item through `execute` (a child process); a broken run goes through the same retry policy. */
  const runElsewhere = async (item: QueueItem, signal: AbortSignal, execute: TaskExecutor) => {
    const taskId = item.task_id;
    for (;;) {
      try {
        await execute(item, { signal });
        return;
      } catch (error) {
        // The process that ran it cannot clean up any more: remove its temp folder here.
        await removeTaskDir(taskDirPath(settings.workDir, taskId));
        const record = await store.getTask(taskId);
        if (!record || isTerminal(record.state)) return;
        const failure = signal.aborted
          ? new UploadError('INTERRUPTED', 'The worker stopped while the task ran; it was handed back.', {
              stage: record.stage ?? 'queue',
              retryable: true,
            })
          : toUploadError(error, record.stage ?? 'queue');
        const next = await afterFailedAttempt(
          settings,
          record,
          Math.max(1, record.attempts),
          failure,
          signal,
        );
        if (!next.retry) return;
      }
    }
  };

  const worker: TaskWorker = {
    workerId: settings.workerId,
    workDir: settings.workDir,
    settings,

    consume(consumeOptions) {
      if (!queue) throw new UploadError('CONFIG_INVALID', 'createTaskWorker needs a queue to consume.');
      if (consumer || stopping)
        throw new UploadError('INVALID_STATE', 'This worker already consumed a queue.');
      consumingSince = now();
      const execute = consumeOptions.execute;
      const handler: QueueHandler = (item, context) => {
        lastJobAt = now();
        // A queue that lost this worker's lock (a Redis outage longer than the lock) hands the same task
        // out again while it still runs here: never run it twice side by side (same temp folder).
        if (runningHere.has(item.task_id)) {
          logger.warn({ task_id: item.task_id }, 'the queue handed out a task already running here; ignored');
          return Promise.resolve();
        }
        runningHere.add(item.task_id);
        const running = (async () => {
          if (execute) {
            await runElsewhere(item, context.signal, execute);
            await moveBatchOn(item.task_id);
          } else await moveBatchOn(item.task_id, await runTask(settings, item.task_id, context.signal));
        })();
        const settled = running.then(
          () => undefined,
          () => undefined,
        );
        void settled.finally(() => runningHere.delete(item.task_id));
        inFlight.add(settled);
        void settled.finally(() => inFlight.delete(settled));
        return running;
      };
      consumer = queue.process(handler, {
        concurrency: consumeOptions.concurrency,
        onFailed: (item, error) => void worker.giveUp(item.task_id, error),
      });
    },

    run: (taskId, runOptions = {}) => runTask(settings, taskId, runOptions.signal),

    async end(taskId, error) {
      const running = settings.controllers.get(taskId);
      if (running) {
        running.abort(error);
        return;
      }
      const record = await store.getTask(taskId);
      if (!record || isTerminal(record.state)) return;
      if (record.state === 'running') {
        // Running in another process: it sees the flag through the event of this write (or its fallback poll) and stops with this error.
        await store.updateTask(taskId, { cancel_requested: true, error: error.toJSON() });
        return;
      }
      await queue?.remove?.(taskId);
      await finish(settings, record, error);
    },

    async giveUp(taskId, error) {
      const failure = new UploadError(
        'WORKER_CRASHED',
        `The queue gave up on the task: ${error.message.slice(0, 200)}. Its workers kept stopping while running it; check their logs, then retry the task.`,
        { stage: 'queue', cause: error },
      );
      try {
        await finishUnlessEnded(settings, taskId, failure);
      } catch (storeError) {
        logger.error({ task_id: taskId, err: String(storeError) }, 'could not record a failed task');
      }
    },

    stop(stopOptions = {}) {
      stopping ??= (async () => {
        const timeoutMs = stopOptions.timeoutMs ?? 30_000;
        await consumer?.stop({ timeoutMs });
        // Past the timeout the consumer aborted what still ran: let those record the hand-back.
        await withTimeout(Promise.allSettled([...inFlight]), 10_000, 'tasks did not stop').catch(() =>
          logger.warn({ active: inFlight.size }, 'tasks still running after the worker stopped'),
        );
      })();
      return stopping;
    },

    stats: () => ({
      active: inFlight.size,
      consuming: consumer !== null && stopping === null,
      consuming_since: consumingSince,
      draining: stopping !== null,
      last_job_at: lastJobAt,
    }),
  };
  return worker;
}
