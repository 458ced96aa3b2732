import { hostname } from 'node:os';
import {
  type JobQueue,
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
import { type ConnectionOptions, type Job, type KeepJobs, Queue, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { duplicateClient, hasHashTag, isCluster, isRedisClient, type RedisClient } from './redis-client.js';
import { createWorkerRegistry, readWorkers, type WorkerRegistry } from './worker-registry.js';

export interface BullmqQueueOptions {
  /**
   * An ioredis client (`Redis` or `Cluster`), or options to open one. An injected
   * client is used by the queue side and never closed; the worker side opens
   * duplicates with `maxRetriesPerRequest: null` (BullMQ requires it) and closes them.
   */
  connection: RedisClient | ConnectionOptions;
  /** BullMQ queue name (no `:`). Default `'ncr-upload'`. */
  name?: string;
  /**
   * BullMQ key prefix; hash-tagged so the queue's keys share one cluster slot.
   * On a Redis Cluster (an injected `Cluster`) a prefix without a hash tag is
   * wrapped in one: `'ncr'` becomes `'{ncr}'`. Default `'{ncr}'`.
   */
  prefix?: string;
  /** This worker's name, shown in counts and stored on jobs. Default `<hostname>:<pid>`. */
  workerId?: string;
  /**
   * How often a worker looks for jobs whose worker died (stalled), in ms. A
   * killed worker's job runs again within about `lockDurationMs` plus one
   * to two of these (the check is shared by all workers). Default 3000.
   */
  stalledIntervalMs?: number;
  /** How many times a stalled job is put back before it is failed. Default 2. */
  maxStalledCount?: number;
  /**
   * Lock time of a running job in ms, renewed at half of it while the worker
   * lives. Shorter finds dead workers sooner; a live worker that cannot renew
   * for this long (blocked event loop, Redis unreachable) loses the job to
   * another worker and it runs twice. Default 6000.
   */
  lockDurationMs?: number;
  /** Which finished BullMQ jobs to keep (the status store keeps the task history). Default `true` (remove at once). */
  removeOnComplete?: boolean | number | KeepJobs;
  /** Which failed BullMQ jobs (the handler threw, or stalled too often) to keep. Default `{ count: 1000 }`. */
  removeOnFail?: boolean | number | KeepJobs;
  /** How often a consuming worker refreshes its entry in the worker registry, in ms. Default 5000. */
  heartbeatMs?: number;
  /**
   * Called in a worker process when BullMQ fails a job by itself: it stalled more
   * than `maxStalledCount` times (its workers kept dying) or the handler threw.
   * The status store does not know: mark the task failed here (e.g. `WORKER_CRASHED`).
   * Default: none.
   */
  onFailed?: (item: QueueItem, error: Error) => void;
}

/** Health of this process's worker, for a health check. */
export interface WorkerHealth {
  /** True when this process consumes: the worker runs, is not paused or closing, and its connection is ready. */
  consuming: boolean;
  /** The worker's Redis connection is ready. */
  connected: boolean;
  /** Jobs running in this process. */
  active: number;
  /** When a job last started or finished here, ISO time, or null. */
  last_job_at: string | null;
}

export interface BullmqJobQueue extends JobQueue {
  /** True while this process's worker takes jobs. False before `process()`, when paused, closing or disconnected. */
  isConsuming(): boolean;
  health(): WorkerHealth;
  /** Pause the whole queue: no worker anywhere takes jobs until `resumeAll()`. */
  pauseAll(): Promise<void>;
  resumeAll(): Promise<void>;
  /** The underlying BullMQ queue (read-only use: dashboards, metrics). */
  readonly queue: Queue;
}

/** BullMQ runs the lowest number first, 1..2^21; ours runs the highest first, default 0 in the middle. */
const PRIORITY_MIDDLE = 1_048_576;
const PRIORITY_MAX = 2_097_152;
export const toBullPriority = (priority = 0) =>
  Math.min(PRIORITY_MAX, Math.max(1, PRIORITY_MIDDLE - Math.round(priority)));

/** How long a worker's close may take once nothing runs, before its connections are cut. */
const WORKER_CLOSE_GRACE_MS = 5000;

/**
 * Close a BullMQ worker; when that has not finished after WORKER_CLOSE_GRACE_MS
 * (seen after a Redis outage: its main loop never returns), cut its
 * connections so shutdown ends. Nothing of ours runs by then: the jobs ended
 * or were handed back, and a lock that is not released lapses.
 */
async function closeWorker(worker: Worker, force: boolean): Promise<void> {
  const closing = worker.close(force).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), WORKER_CLOSE_GRACE_MS);
  });
  const outcome = await Promise.race([closing.then(() => 'closed' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') await worker.disconnect().catch(() => undefined);
}

/** At most this many distinct priorities are counted (a console view, not an export). */
const PRIORITY_BANDS = 64;

/**
 * Waiting jobs per BullMQ priority in one round trip, without reading every job:
 * the prioritized set scores each job `priority * 2^32 + counter`, so each
 * priority is one band of scores. Walks the bands from the lowest (runs first):
 * the first score of the next band, then a ZCOUNT of it. Plain waiting and
 * paused lists hold jobs without a priority (band 0).
 */
const WAITING_BY_PRIORITY = `
local out = {}
local unprioritized = redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3])
if unprioritized > 0 then out[#out + 1] = 0; out[#out + 1] = unprioritized end
local from = '-inf'
for _ = 1, tonumber(ARGV[1]) do
  local first = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first == 0 then break end
  local band = math.floor(tonumber(first[2]) / 4294967296)
  local upper = string.format('%.0f', (band + 1) * 4294967296)
  out[#out + 1] = band
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', band * 4294967296), '(' .. upper)
  from = upper
end
return out
`;

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
  const queue = new Queue<QueueItem>(name, { connection: options.connection, prefix });
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

  function workerConnection(): RedisClient | ConnectionOptions {
    if (injected) {
      workerClient = duplicateClient(injected, { maxRetriesPerRequest: null });
      return workerClient;
    }
    // The worker blocks on Redis and must wait through outages: no offline-queue or command-timeout fail-fast here.
    return {
      ...(options.connection as ConnectionOptions),
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      commandTimeout: undefined,
    } as ConnectionOptions;
  }

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
        if (workerClient) await workerClient.quit().catch(() => workerClient?.disconnect());
      } finally {
        markStopped();
      }
    })();
    return stopping;
  }

  return {
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
      await queue.add('task', item, {
        jobId: item.task_id,
        priority: toBullPriority(item.priority),
        attempts: 1,
        removeOnComplete,
        removeOnFail,
      });
    },

    process(handler: QueueHandler, processOptions: QueueProcessOptions): QueueConsumer {
      if (worker) throw new UploadError('INVALID_STATE', 'process() was already called on this queue.');
      if (closing || stopping) throw new UploadError('INVALID_STATE', 'The queue is closed.');
      handlerOf = handler;
      concurrency = Math.max(1, Math.floor(processOptions.concurrency));
      worker = new Worker<QueueItem>(name, processJob, {
        connection: workerConnection(),
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
      const client = await queue.client;
      const reply = (await (client as unknown as RedisClient).eval(
        WAITING_BY_PRIORITY,
        3,
        queue.toKey('prioritized'),
        queue.toKey('wait'),
        queue.toKey('paused'),
        PRIORITY_BANDS,
      )) as number[];
      const byPriority = new Map<number, number>();
      for (let index = 0; index + 1 < reply.length; index += 2) {
        const band = Number(reply[index]);
        // BullMQ's priority 0 (a job added without one, never by us) runs first: count it as ours 0.
        const priority = band === 0 ? 0 : PRIORITY_MIDDLE - band;
        byPriority.set(priority, (byPriority.get(priority) ?? 0) + Number(reply[index + 1]));
      }
      return [...byPriority]
        .filter(([, waiting]) => waiting > 0)
        .map(([priority, waiting]) => ({ priority, waiting }))
        .sort((a, b) => b.priority - a.priority);
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
      return this.health().consuming;
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
}

/** The worker's main connection is ready (BullMQ keeps it private; read its status defensively). */
function isWorkerReady(worker: Worker): boolean {
  const connection = (worker as unknown as { connection?: { _client?: { status?: string } } }).connection;
  return connection?._client?.status === 'ready';
}
