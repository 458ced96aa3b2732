import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { runBatchInChunks } from './batch-runner.js';
import { assertDeliverable } from './deliverable.js';
import { boundedCall } from './dependency.js';
import { isUploadError, UploadError } from './errors.js';
import type { JobRequest, TaskRecord } from './job.js';
import { isTerminal, newTaskRecord, parseJobRequest } from './job.js';
import { createMemoryMonitor } from './memory-monitor.js';
import { createMemoryQueue } from './memory-queue.js';
import { createMemoryStatusStore } from './memory-status-store.js';
import { checkHealth } from './pipeline-health.js';
import { checkPipelineOptions } from './pipeline-options.js';
import { createSubmit } from './pipeline-submit.js';
import type { BatchItemResult, Logger, UploadPipeline, UploadPipelineOptions } from './pipeline-types.js';
import type { TaskEvent } from './ports/status-store.js';
import { sweepStaleTaskDirs } from './steps/temp-dir.js';
import { nextEvent, withLocalEvents } from './task-events.js';
import { createTaskWorker } from './task-worker.js';

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const now = () => new Date().toISOString();

/**
 * Build the upload pipeline: validate and admit jobs, queue them, run them
 * through resolve → layout → fetch → archive → validate → deliver → report →
 * cleanup, and keep their status. Every part is a port you can replace.
 */
export function createUploadPipeline(options: UploadPipelineOptions): UploadPipeline {
  checkPipelineOptions(options);
  const concurrency = options.concurrency ?? 4;
  const maxMemoryPercent = options.maxMemoryPercent ?? 80;
  const batchSize = options.batchSize ?? 5;
  const batchTimeoutMs = options.batchTimeoutMs ?? 300_000;
  const logger = options.logger ?? silentLogger;
  const workerId = options.workerId ?? `${hostname()}:${process.pid}`;
  const ownsStore = !options.statusStore;
  const ownsQueue = !options.queue;
  const store = withLocalEvents(options.statusStore ?? createMemoryStatusStore());
  const queue = options.queue ?? createMemoryQueue({ concurrency, workerId });
  const monitor =
    options.memoryMonitor ?? createMemoryMonitor({ maxMemoryPercent, maxConcurrency: concurrency });
  const worker = createTaskWorker({
    ...options,
    statusStore: store,
    queue,
    workerId,
    logger,
    batchSize,
    // The store is wrapped with local events: whether the given one has live events decides the fallback poll.
    cancelCheckIntervalMs:
      options.cancelCheckIntervalMs ?? (options.statusStore && !options.statusStore.subscribe ? 1000 : 5000),
  });
  const batches = new Set<Promise<void>>();
  const lifetime = new AbortController();
  let started = false;
  let closing = false;
  const maxAttempts = worker.settings.retry.attempts;
  const dependencyTimeoutMs = options.dependencyTimeoutMs ?? 5000;
  /** A status store call that answers or fails within `dependencyTimeoutMs` (`DEPENDENCY_UNAVAILABLE`). */
  const fromStore = <T>(call: () => Promise<T>) => boundedCall('status store', call, dependencyTimeoutMs);
  const fromQueue = <T>(call: () => Promise<T>, ms = dependencyTimeoutMs) =>
    boundedCall('queue', call, ms, 'queue');

  const deliverable = {
    remotePath: worker.settings.remotePath,
    idsAreNames: !options.organize || !options.remotePath,
  };

  const subscribe = (listener: (event: TaskEvent) => void) => store.subscribe(listener);

  /** Resolves on the next task event or after `ms`. */
  const waitForChange = (ms: number, signal?: AbortSignal) => nextEvent(store, ms, signal);

  const newRecord = (job: JobRequest, batchId: string | null): TaskRecord =>
    newTaskRecord(job, { taskId: randomUUID(), batchId, maxAttempts });

  const admit = async (count: number) => {
    // While this process's worker drains, a durable queue (BullMQ) keeps new items for other workers;
    // an in-process queue would hold them for nobody: refuse before anything is created.
    if (closing || (worker.stats().draining && !queue.durable)) {
      throw new UploadError(
        'NOT_ACCEPTING',
        'This instance is shutting down; submit the job to another instance or retry shortly.',
        {
          stage: 'admission',
          retryable: true,
        },
      );
    }
    if (!monitor.acceptingJobs()) {
      const percent = monitor.snapshot().system.percent;
      throw new UploadError(
        'NOT_ACCEPTING',
        `Memory use is ${percent}% (limit ${maxMemoryPercent}%); jobs are not accepted right now. Retry in a little while.`,
        {
          stage: 'admission',
          retryable: true,
          details: { memory_percent: percent, max_memory_percent: maxMemoryPercent },
        },
      );
    }
    if (options.maxQueued !== undefined) {
      const counts = await fromQueue(() => queue.counts());
      if (counts.waiting + count > options.maxQueued) {
        throw new UploadError(
          'QUEUE_FULL',
          `The queue already holds ${counts.waiting} waiting jobs (limit ${options.maxQueued}). Retry later.`,
          {
            stage: 'admission',
            retryable: true,
          },
        );
      }
    }
  };

  /** End a task that has not finished (cancel, batch timeout): the worker owns every ending. */
  const endTask = (taskId: string, error: UploadError) => worker.end(taskId, error);

  const submit = createSubmit({ store, queue, fromStore, fromQueue, admit, newRecord, deliverable });

  const pipeline: UploadPipeline = {
    options: { concurrency, batchSize, batchTimeoutMs, maxMemoryPercent, workDir: worker.workDir },
    statusStore: store,
    queue,
    worker,

    submit,

    async submitBatch(jobs) {
      await admit(jobs.length);
      const batchId = randomUUID();
      const items: BatchItemResult[] = [];
      for (const [index, input] of jobs.entries()) {
        try {
          const job = parseJobRequest(input);
          assertDeliverable(job, deliverable);
          const { record, created } = await fromStore(() => store.createTask(newRecord(job, batchId)));
          items.push({ index, job_id: job.job_id, task_id: record.task_id, created, error: null });
        } catch (error) {
          if (!isUploadError(error)) throw error;
          const jobId = (input as { job_id?: unknown } | null)?.job_id;
          items.push({
            index,
            job_id: typeof jobId === 'string' ? jobId : null,
            task_id: null,
            created: false,
            error: error.toJSON(),
          });
        }
      }
      const taskIds = items.flatMap((item) => (item.task_id ? [item.task_id] : []));
      await fromStore(() => store.createBatch({ batch_id: batchId, task_ids: taskIds, created_at: now() }));
      const running = runBatchInChunks(
        { store, queue, logger, batchSize, batchTimeoutMs, expire: endTask, waitForChange },
        batchId,
        lifetime.signal,
      ).catch((error) => logger.error({ batch_id: batchId, err: String(error) }, 'batch runner failed'));
      batches.add(running);
      void running.finally(() => batches.delete(running));
      return { batch_id: batchId, task_ids: taskIds, items };
    },

    getTask: (taskId) => fromStore(() => store.getTask(taskId)),
    getBatch: (batchId) => fromStore(() => store.getBatch(batchId)),
    listActive: () => fromStore(() => store.listActive()),
    listTasks: (filter) => fromStore(() => store.listTasks(filter)),

    async cancel(taskId) {
      const record = await store.getTask(taskId);
      if (!record) throw new UploadError('NOT_FOUND', `No task ${JSON.stringify(taskId)}.`);
      if (isTerminal(record.state)) {
        throw new UploadError(
          'INVALID_STATE',
          `Task ${taskId} already ended (${record.state}); nothing to cancel.`,
        );
      }
      await store.updateTask(taskId, { cancel_requested: true });
      await endTask(
        taskId,
        new UploadError('CANCELLED', 'The task was cancelled.', { stage: record.stage ?? 'queue' }),
      );
      return (await store.getTask(taskId)) ?? record;
    },

    async retry(taskId) {
      const record = await store.getTask(taskId);
      if (!record) throw new UploadError('NOT_FOUND', `No task ${JSON.stringify(taskId)}.`);
      if (!isTerminal(record.state) || record.state === 'succeeded') {
        throw new UploadError(
          'INVALID_STATE',
          `Task ${taskId} is ${record.state}; only failed, rejected or cancelled tasks can be retried.`,
        );
      }
      return submit(record.job);
    },

    subscribe,

    async start(startOptions = {}) {
      if (started) return;
      started = true;
      const removed = await sweepStaleTaskDirs(worker.workDir, options.staleTempMs ?? 3_600_000);
      if (removed > 0) logger.info({ removed }, 'removed stale task folders');
      if (options.recoverOnStart) {
        const left = await store.listActive();
        for (const record of left) await queue.add({ task_id: record.task_id });
        if (left.length > 0)
          logger.info({ recovered: left.length }, 'tasks left by a previous run were queued again');
      }
      worker.consume({
        concurrency,
        ...(startOptions.execute ? { execute: startOptions.execute } : {}),
      });
    },

    stop: (stopOptions = {}) => worker.stop({ timeoutMs: stopOptions.timeoutMs ?? 30_000 }),

    runTask: (item, runOptions = {}) =>
      worker.run(item.task_id, runOptions.signal ? { signal: runOptions.signal } : {}),

    async waitFor(taskId, waitOptions = {}) {
      const deadline = Date.now() + (waitOptions.timeoutMs ?? 60_000);
      for (;;) {
        const record = await store.getTask(taskId);
        if (!record) throw new UploadError('NOT_FOUND', `No task ${JSON.stringify(taskId)}.`);
        if (isTerminal(record.state)) return record;
        if (Date.now() >= deadline) {
          throw new UploadError(
            'TIMEOUT',
            `Task ${taskId} is still ${record.state} after ${waitOptions.timeoutMs ?? 60_000} ms.`,
          );
        }
        await waitForChange(Math.min(250, Math.max(1, deadline - Date.now())));
      }
    },

    health: () =>
      checkHealth({
        // The in-memory store the pipeline made itself is no dependency: `redis: not_configured`.
        status_store: ownsStore ? {} : store,
        queue,
        catalog: options.catalog,
        storage: options.storage,
        validator: options.validator,
        destination: options.destination,
      }),

    async stats() {
      const local = worker.stats();
      return {
        // Bounded tighter: liveness and readiness probes read these.
        queue: await fromQueue(() => queue.counts(), Math.min(1000, dependencyTimeoutMs)),
        active: local.active,
        worker_id: workerId,
        consuming: local.consuming,
        consuming_since: local.consuming_since,
        queue_consuming: queue.isConsuming ? queue.isConsuming() : null,
        draining: closing || local.draining,
        last_job_at: local.last_job_at,
        concurrency,
      };
    },

    memory: () => monitor.snapshot(),

    async close(closeOptions = {}) {
      closing = true;
      lifetime.abort();
      await Promise.allSettled([...batches]);
      await worker.stop({ timeoutMs: closeOptions.timeoutMs ?? 30_000 });
      // A queue or store passed in is its creator's to close.
      if (ownsQueue) await queue.close({ timeoutMs: closeOptions.timeoutMs ?? 30_000 });
      if (ownsStore) await store.close?.();
    },
  };
  return pipeline;
}
