import type { QueueCounts } from '@ncr-upload/core';
import type { Queue } from 'bullmq';

type WorkerEntry = NonNullable<QueueCounts['workers']>[number];
type Figures = Omit<WorkerEntry, 'id'>;

export interface WorkerRegistry {
  /** Register this worker and refresh it every `heartbeatMs`. */
  start(figures: Figures): void;
  /** Record new figures: written within 250 ms when they changed (changes coalesced), else at the next heartbeat. */
  beat(figures: Figures): void;
  /** Every live worker of the queue. */
  list(): Promise<WorkerEntry[]>;
  /** Unregister this worker. */
  stop(): Promise<void>;
}

interface StoredEntry extends WorkerEntry {
  /** Entries not refreshed by then belong to a dead worker. */
  expires_at: number;
}

/** Read the live workers of a queue from its registry hash, dropping (and deleting) expired entries. */
export async function readWorkers(queue: Queue, key: string): Promise<WorkerEntry[]> {
  const client = await queue.client;
  const all = await client.hgetall(key);
  const now = Date.now();
  const live: WorkerEntry[] = [];
  const dead: string[] = [];
  for (const [field, raw] of Object.entries(all)) {
    try {
      const { expires_at: expiresAt, ...entry } = JSON.parse(raw) as StoredEntry;
      if (expiresAt < now) dead.push(field);
      else live.push(entry);
    } catch {
      dead.push(field);
    }
  }
  if (dead.length > 0) await client.hdel(key, ...dead);
  return live.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * A hash of workers with their running jobs, concurrency and last job time,
 * refreshed by each worker on a timer: the queue-wide view for `counts()`.
 * BullMQ's own `getWorkers()` only lists connections (CLIENT LIST).
 */
/** How long changed figures (a job started or ended) wait, so that many changes make one write. */
const BEAT_COALESCE_MS = 250;

export function createWorkerRegistry(options: {
  queue: Queue;
  key: string;
  workerId: string;
  heartbeatMs: number;
}): WorkerRegistry {
  const { queue, key, workerId, heartbeatMs } = options;
  let figures: Figures = { active: 0, concurrency: 1, last_job_at: null };
  let timer: NodeJS.Timeout | null = null;
  let pending: NodeJS.Timeout | null = null;
  let writing = false;

  async function write(): Promise<void> {
    if (writing) return;
    writing = true;
    try {
      const client = await queue.client;
      const entry: StoredEntry = { id: workerId, ...figures, expires_at: Date.now() + heartbeatMs * 3 };
      await client.hset(key, { [workerId]: JSON.stringify(entry) });
    } catch {
      // Redis is away: the next heartbeat tries again.
    } finally {
      writing = false;
    }
  }

  return {
    start(initial) {
      figures = initial;
      void write();
      timer = setInterval(() => void write(), heartbeatMs);
      timer.unref();
    },
    beat(next) {
      const resized = next.concurrency !== figures.concurrency;
      const changed = resized || next.active !== figures.active;
      figures = next;
      if (resized) void write();
      // Jobs start and end many times a second: their figures go out at most every BEAT_COALESCE_MS.
      else if (changed && !pending) {
        pending = setTimeout(
          () => {
            pending = null;
            void write();
          },
          Math.min(BEAT_COALESCE_MS, heartbeatMs),
        );
        pending.unref();
      }
    },
    // This worker's own entry shows its figures now, not the last write (changes are coalesced).
    list: async () =>
      (await readWorkers(queue, key)).map((entry) =>
        entry.id === workerId ? { ...entry, ...figures } : entry,
      ),
    async stop() {
      if (timer) clearInterval(timer);
      if (pending) clearTimeout(pending);
      timer = null;
      pending = null;
      try {
        const client = await queue.client;
        await client.hdel(key, workerId);
      } catch {
        // The entry expires by itself.
      }
    },
  };
}
