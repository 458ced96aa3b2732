import PQueue from 'p-queue';
import { UploadError } from './errors.js';
import { raceTimeout } from './internal/async.js';
import type {
  JobQueue,
  QueueCloseOptions,
  QueueConsumer,
  QueueCounts,
  QueueHandler,
  QueueItem,
  QueueProcessOptions,
  QueueStopOptions,
} from './ports/job-queue.js';

export interface MemoryQueueOptions {
  /**
   * Items processed at once until `process(handler, { concurrency })` or
   * `setConcurrency` changes it. Default 4.
   */
  concurrency?: number;
  /** The id reported for this worker in `counts().workers`. Default `memory-<pid>`. */
  workerId?: string;
}

interface Entry {
  item: QueueItem;
  /** Aborted to drop the entry while it waits (p-queue removes it). */
  waiting: AbortController;
  /** Created when the entry starts; its signal is the handler's. */
  running: AbortController | null;
  settled: Promise<void> | null;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
/** How long a stop waits for aborted handlers to return. */
const ABORTED_GRACE_MS = 10_000;

function checkConcurrency(concurrency: number): number {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new UploadError(
      'CONFIG_INVALID',
      `concurrency must be an integer of at least 1, got ${String(concurrency)}.`,
    );
  }
  return concurrency;
}

/**
 * An in-process job queue on p-queue: FIFO, higher `priority` first, at most
 * `concurrency` handlers running at once; an item is taken only when a slot is
 * free. Items added before `process()` wait for it.
 *
 * Nothing survives the process (`durable` is unset): once the consumer stops,
 * waiting items wait for nobody, and on `close()` they are dropped (their tasks
 * stay `queued` in the status store, from where `recoverOnStart` can resubmit
 * them). A handler that throws does not stop the queue.
 */
export function createMemoryQueue(options: MemoryQueueOptions = {}): JobQueue {
  let concurrency = checkConcurrency(options.concurrency ?? DEFAULT_CONCURRENCY);
  const workerId = options.workerId ?? `memory-${process.pid}`;
  const queue = new PQueue({ concurrency, autoStart: false });
  /** Waiting and running entries by task id: an id is in the queue at most once. */
  const entries = new Map<string, Entry>();
  let handler: QueueHandler | null = null;
  let onFailed: QueueProcessOptions['onFailed'];
  let paused = false;
  let stopping: Promise<void> | null = null;
  let closing: Promise<void> | null = null;
  let lastJobAt: string | null = null;

  const activeEntries = () => [...entries.values()].filter((entry) => entry.running !== null);
  const startIfReady = () => {
    if (handler && !paused && !stopping && !closing) queue.start();
  };

  /** Stop taking entries; wait for the running ones, past the timeout abort them and wait for their handlers. */
  const stopConsuming = (stopOptions: QueueStopOptions = {}): Promise<void> => {
    if (stopping) return stopping;
    const timeoutMs = stopOptions.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    queue.pause();
    stopping = (async () => {
      const active = activeEntries();
      if (active.length === 0) return;
      const settled = () => Promise.all(active.map((entry) => entry.settled));
      if ((await raceTimeout(settled(), timeoutMs)) === 'timeout') {
        for (const entry of active)
          entry.running?.abort(new UploadError('INTERRUPTED', 'The queue consumer stopped.'));
        // An aborted handler hands its task back and returns; do not wait forever for one that does not.
        await raceTimeout(settled(), ABORTED_GRACE_MS);
      }
    })();
    return stopping;
  };

  async function run(entry: Entry): Promise<void> {
    const current = handler;
    if (!current) return;
    entry.running = new AbortController();
    lastJobAt = new Date().toISOString();
    try {
      await current(entry.item, { signal: entry.running.signal });
    } catch (error) {
      // The handler records job failures itself; a throw here must not stop the queue.
      try {
        onFailed?.(entry.item, error instanceof Error ? error : new Error(String(error)));
      } catch {
        // A broken callback must not stop the queue either.
      }
    } finally {
      entries.delete(entry.item.task_id);
    }
  }

  return {
    async add(item: QueueItem): Promise<void> {
      if (closing) {
        throw new UploadError('NOT_ACCEPTING', 'The queue is closing and takes no new jobs.', {
          stage: 'queue',
        });
      }
      // Already waiting or running: adding it again would run it twice.
      if (entries.has(item.task_id)) return;
      const entry: Entry = { item, waiting: new AbortController(), running: null, settled: null };
      entries.set(item.task_id, entry);
      entry.settled = queue
        .add(() => run(entry), { priority: item.priority ?? 0, signal: entry.waiting.signal })
        .catch(() => {
          // Rejected only when the entry was removed while waiting.
          entries.delete(entry.item.task_id);
        });
    },

    process(nextHandler: QueueHandler, processOptions: QueueProcessOptions): QueueConsumer {
      if (handler) throw new UploadError('INVALID_STATE', 'process() was already called on this queue.');
      if (closing) throw new UploadError('INVALID_STATE', 'The queue is closed.');
      concurrency = checkConcurrency(processOptions.concurrency);
      queue.concurrency = concurrency;
      handler = nextHandler;
      onFailed = processOptions.onFailed;
      startIfReady();
      return { stop: stopConsuming };
    },

    async pause(): Promise<void> {
      paused = true;
      queue.pause();
    },

    isConsuming(): boolean {
      return handler !== null && !paused && !stopping && !closing;
    },

    async resume(): Promise<void> {
      paused = false;
      startIfReady();
    },

    async counts(): Promise<QueueCounts> {
      const active = activeEntries().length;
      return {
        waiting: entries.size - active,
        active,
        delayed: 0,
        paused,
        workers: handler ? [{ id: workerId, active, concurrency, last_job_at: lastJobAt }] : [],
      };
    },

    async waitingByPriority(): Promise<{ priority: number; waiting: number }[]> {
      const byPriority = new Map<number, number>();
      for (const entry of entries.values()) {
        if (entry.running !== null) continue;
        const priority = entry.item.priority ?? 0;
        byPriority.set(priority, (byPriority.get(priority) ?? 0) + 1);
      }
      return [...byPriority]
        .map(([priority, waiting]) => ({ priority, waiting }))
        .sort((a, b) => b.priority - a.priority);
    },

    async remove(taskId: string): Promise<boolean> {
      const entry = entries.get(taskId);
      if (!entry || entry.running !== null) return false;
      entries.delete(taskId);
      entry.waiting.abort();
      return true;
    },

    setConcurrency(next: number): void {
      concurrency = checkConcurrency(next);
      queue.concurrency = concurrency;
    },

    async ping(): Promise<void> {
      if (closing) throw new UploadError('NOT_ACCEPTING', 'The queue is closed.', { stage: 'queue' });
    },

    close(closeOptions: QueueCloseOptions = {}): Promise<void> {
      if (closing) return closing;
      const stopped = handler ? stopConsuming(closeOptions) : Promise.resolve();
      // Waiting entries die with the queue; their tasks stay `queued` in the status store. One clear
      // drops them all (aborting each would search p-queue's list once per entry: quadratic).
      queue.clear();
      for (const entry of [...entries.values()]) {
        if (entry.running === null) entries.delete(entry.item.task_id);
      }
      closing = stopped;
      return closing;
    },
  };
}
