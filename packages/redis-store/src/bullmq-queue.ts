import { hostname } from 'node:os';
import {
  type QueueAddOptions,
  type QueueCloseOptions,
  type QueueConsumer,
  type QueueCounts,
  type QueueHandler,
  type QueueItem,
  type QueueProcessOptions,
  type QueueStopOptions,
  UploadError,
} from '@ncr-upload/core';
import { type ConnectionOptions, type Job, type JobsOptions, Queue, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { createAndAddJob } from './bullmq-create-and-add.js';
import { toBullPriority, waitingByPriority } from './bullmq-priority.js';
import type { BullmqJobQueue, BullmqQueueOptions, WorkerHealth } from './bullmq-queue-options.js';
import { closeWorker, isWorkerReady, withReconnect, workerConnection } from './bullmq-worker.js';
import { endClient, hasHashTag, isCluster, isRedisClient, type RedisClient } from './redis-client.js';
import { createWorkerRegistry, readWorkers, type WorkerRegistry } from './worker-registry.js';

const WAITING_STATES = new Set(['waiting', 'prioritized', 'delayed', 'paused', 'wait']);

/**
 * A `JobQueue` on BullMQ: many worker processes on many machines share one
 * queue in Redis. BullMQ does the distribution: a worker fetches a job only
 * when it has a free slot, a worker that dies mid-job loses its lock and the
 * job is re-run by another worker (stalled-job recovery), and `jobId = task_id`
 * makes a double enqueue a no-op. Retries happen inside the handler (the
 * pipeline), so BullMQ's own `attempts` is 1.
 *
 * `pause()`/`resume()` act on this process's worker only; `pauseAll()` and
 * `resumeAll()` pause the queue for every worker.
 */
export function createBullmqQueue(options: BullmqQueueOptions): BullmqJobQueue {
  const name = options.name ?? 'ncr-upload';
  const injected = isRedisClient(options.connection) ? options.connection : null;
  const givenPrefix = options.prefix ?? '{ncr}';
  // BullMQ's scripts touch many keys at once: on a cluster they must share one slot.
  const prefix =
    injected && isCluster(injected) && !hasHashTag(givenPrefix) ? `{${givenPrefix}}` : givenPrefix;
  const workerId = options.workerId ?? `${hostname()}:${process.pid}`;
  const removeOnComplete = options.removeOnComplete ?? true;
  const removeOnFail = options.removeOnFail ?? { count: 1000 };
  const jobOptions = (item: QueueItem): JobsOptions => ({
    jobId: item.task_id,
    priority: toBullPriority(item.priority),
    attempts: 1,
    removeOnComplete,
    removeOnFail,
  });
  const queue = new Queue<QueueItem>(name, {
    connection: injected ?? withReconnect(options.connection as ConnectionOptions),
    prefix,
  });
  queue.on('error', () => undefined);

  let worker: Worker<QueueItem> | null = null;
  let workerClient: RedisClient | null = null;
  let registry: WorkerRegistry | null = null;
  let concurrency = 1;
  let pausedLocally = false;
  let stopping: Promise<void> | null = null;
  let closing: Promise<void> | null = null;
  let handingBack = false;
  let lastJobAt: string | null = null;
  let markStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  const running = new Map<string, AbortController>();

  const touch = () => {
    lastJobAt = new Date().toISOString();
    registry?.beat({ active: running.size, concurrency, last_job_at: lastJobAt });
  };

  async function processJob(job: Job<QueueItem>, token?: string, bullSignal?: AbortSignal): Promise<void> {
    // BullMQ still hands over a job its blocking fetch was waiting for when
    // pause() or close() ran: give it back untouched (waiting, same priority).
    if ((pausedLocally || stopping) && token) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const controller = new AbortController();
    const id = job.id ?? job.data.task_id;
    bullSignal?.addEventListener('abort', () => controller.abort(bullSignal.reason), { once: true });
    running.set(id, controller);
    touch();
    try {
      await handlerOf(job.data, { signal: controller.signal });
    } catch (error) {
      // Rejecting because of the hand-back abort is no failure of the job.
      if (!handingBack) throw error;
    } finally {
      running.delete(id);
      touch();
    }
    // Stopping past its timeout: report the job neither done nor failed; its lock
    // lapses and another worker's stalled check puts it back (hand back).
    if (handingBack) await stopped;
  }

  let handlerOf: QueueHandler = async () => {
    throw new UploadError('INTERNAL', 'process() was not called.');
  };

  async function waitForIdle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (running.size > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** Stop this process's worker: pause it, wait for running jobs, past the timeout abort them (hand back), close it. */
  function stopConsuming(stopOptions: QueueStopOptions = {}): Promise<void> {
    if (stopping) return stopping;
    const timeoutMs = stopOptions.timeoutMs ?? 30_000;
    stopping = (async () => {
      try {
        if (!worker) return;
        await worker.pause(true).catch(() => undefined);
        const idle = await waitForIdle(timeoutMs);
        if (!idle) {
          handingBack = true;
          const reason = new UploadError(
            'INTERRUPTED',
            'The worker is shutting down; the job is handed back.',
            {
              stage: 'queue',
            },
          );
          for (const controller of running.values()) controller.abort(reason);
          // The aborted handlers record the hand-back; give them a moment before the worker goes.
          await waitForIdle(10_000);
        }
        await closeWorker(worker, !idle);
        await registry?.stop();
        if (workerClient) await endClient(workerClient);
      } finally {
        markStopped();
      }
    })();
    return stopping;
  }

  const jobQueue: BullmqJobQueue = {
    queue,
    durable: true,

    async add(item: QueueItem, addOptions: QueueAddOptions = {}): Promise<void> {
      if (closing) throw new UploadError('INVALID_STATE', 'The queue is closed.', { stage: 'queue' });
      // A finished BullMQ job with this id would swallow the add (same jobId): clear it first.
      // A task created just now has had no job (task ids are new): no look-up then.
      const existing = addOptions.created ? undefined : await queue.getJob(item.task_id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'completed' || state === 'failed') await existing.remove().catch(() => undefined);
      }
      await queue.add('task', item, jobOptions(item));
    },

    async createAndAdd(store, record, item) {
      if (closing) throw new UploadError('INVALID_STATE', 'The queue is closed.', { stage: 'queue' });
      return await createAndAddJob(
        { queue, client: injected, jobOptions, add: (again) => jobQueue.add(again) },
        store,
        record,
        item,
      );
    },

    process(handler: QueueHandler, processOptions: QueueProcessOptions): QueueConsumer {
      if (worker) throw new UploadError('INVALID_STATE', 'process() was already called on this queue.');
      if (closing || stopping) throw new UploadError('INVALID_STATE', 'The queue is closed.');
      handlerOf = handler;
      concurrency = Math.max(1, Math.floor(processOptions.concurrency));
      const connection = workerConnection(options.connection, injected);
      workerClient = connection.owned;
      worker = new Worker<QueueItem>(name, processJob, {
        connection: connection.connection,
        prefix,
        name: workerId,
        concurrency,
        autorun: !pausedLocally,
        stalledInterval: options.stalledIntervalMs ?? 3000,
        maxStalledCount: options.maxStalledCount ?? 2,
        lockDuration: options.lockDurationMs ?? 6000,
        removeOnComplete: typeof removeOnComplete === 'object' ? removeOnComplete : undefined,
      });
      // Connection errors are retried by ioredis; the worker resumes when Redis is back.
      worker.on('error', () => undefined);
      worker.on('failed', (job, error) => {
        if (!job) return;
        for (const callback of [options.onFailed, processOptions.onFailed]) {
          try {
            callback?.(job.data, error);
          } catch {
            // A broken callback must not stop the worker.
          }
        }
      });
      registry = createWorkerRegistry({
        queue,
        key: `${prefix}:${name}:ncr-workers`,
        workerId,
        heartbeatMs: options.heartbeatMs ?? 5000,
      });
      registry.start({ active: 0, concurrency, last_job_at: null });
      return { stop: stopConsuming };
    },

    async pause(): Promise<void> {
      pausedLocally = true;
      if (worker) await worker.pause(true);
    },

    async resume(): Promise<void> {
      if (closing || stopping) return;
      pausedLocally = false;
      worker?.resume();
    },

    async pauseAll(): Promise<void> {
      await queue.pause();
    },

    async resumeAll(): Promise<void> {
      await queue.resume();
    },

    async counts(): Promise<QueueCounts> {
      const counts = await queue.getJobCounts('wait', 'prioritized', 'paused', 'active', 'delayed');
      const globallyPaused = await queue.isPaused();
      const workers = registry
        ? await registry.list()
        : await readWorkers(queue, `${prefix}:${name}:ncr-workers`);
      return {
        waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts.paused ?? 0),
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        paused: pausedLocally || globallyPaused,
        workers,
      };
    },

    async waitingByPriority(): Promise<{ priority: number; waiting: number }[]> {
      return waitingByPriority(queue);
    },

    async remove(taskId: string): Promise<boolean> {
      const job = await queue.getJob(taskId);
      if (!job) return false;
      const state = await job.getState();
      if (!WAITING_STATES.has(state)) return false;
      try {
        await job.remove();
        return true;
      } catch {
        // Taken by a worker in the meantime (locked).
        return false;
      }
    },

    setConcurrency(next: number): void {
      concurrency = Math.max(1, Math.floor(next));
      if (worker) worker.concurrency = concurrency;
      registry?.beat({ active: running.size, concurrency, last_job_at: lastJobAt });
    },

    async ping(): Promise<void> {
      // BullMQ wraps ioredis in a proxy that forwards every other command.
      const client = (await queue.client) as unknown as Redis;
      await client.ping();
    },

    isConsuming(): boolean {
      return jobQueue.health().consuming;
    },

    health(): WorkerHealth {
      const connected = workerClient
        ? workerClient.status === 'ready'
        : worker !== null && isWorkerReady(worker);
      const consuming = worker !== null && !stopping && !pausedLocally && worker.isRunning() && connected;
      return { consuming, connected, active: running.size, last_job_at: lastJobAt };
    },

    close(closeOptions: QueueCloseOptions = {}): Promise<void> {
      closing ??= (async () => {
        await stopConsuming(closeOptions);
        await queue.close().catch(() => undefined);
      })();
      return closing;
    },
  };
  return jobQueue;
}
