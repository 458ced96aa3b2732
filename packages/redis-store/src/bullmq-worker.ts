import type { ConnectionOptions, Worker } from 'bullmq';
import { duplicateClient, type RedisClient } from './redis-client.js';

/** How long a worker's close may take once nothing runs, before its connections are cut. */
const WORKER_CLOSE_GRACE_MS = 5000;

/**
 * Close a BullMQ worker; when that has not finished after WORKER_CLOSE_GRACE_MS
 * (seen after a Redis outage: its main loop never returns), cut its
 * connections so shutdown ends. Nothing of ours runs by then: the jobs ended
 * or were handed back, and a lock that is not released lapses.
 */
export async function closeWorker(worker: Worker, force: boolean): Promise<void> {
  const closing = worker.close(force).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), WORKER_CLOSE_GRACE_MS);
  });
  const outcome = await Promise.race([closing.then(() => 'closed' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') await worker.disconnect().catch(() => undefined);
}

/** ioredis's own reconnect delay: 50 ms more per attempt, at most 2 s. */
export const reconnectDelay = (attempt: number) => Math.min(attempt * 50, 2000);

/**
 * Connection options as BullMQ gets them: without a `retryStrategy` of the
 * caller's, ioredis's own (at most 2 s between attempts). BullMQ's default
 * waits up to 20 s between attempts (e^attempt ms), so after an outage of
 * ten seconds or so the queue and its workers came back up to 20 s after
 * Redis did.
 */
export function withReconnect(connection: ConnectionOptions): ConnectionOptions {
  return (connection as { retryStrategy?: unknown }).retryStrategy === undefined
    ? ({ ...connection, retryStrategy: reconnectDelay } as ConnectionOptions)
    : connection;
}

/**
 * The connection of a queue's worker: a duplicate of an injected client (the
 * caller closes it: `owned`), or the given options adjusted for a blocking worker.
 */
export function workerConnection(
  connection: RedisClient | ConnectionOptions,
  injected: RedisClient | null,
): { connection: RedisClient | ConnectionOptions; owned: RedisClient | null } {
  if (injected) {
    // A client made to fail fast for requests (no offline queue, a command timeout) would fail the
    // worker's blocking fetch during an outage: its duplicate waits instead, as BullMQ requires. Nor
    // does it auto-pipeline (each batch's pipeline copies BullMQ's scripts: more CPU per job).
    const owned = duplicateClient(injected, {
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      commandTimeout: undefined,
      enableAutoPipelining: false,
    });
    return { connection: owned, owned };
  }
  // The worker blocks on Redis and must wait through outages: no offline-queue or command-timeout fail-fast here.
  return {
    connection: {
      ...withReconnect(connection as ConnectionOptions),
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      commandTimeout: undefined,
    } as ConnectionOptions,
    owned: null,
  };
}

/** The worker's main connection is ready (BullMQ keeps it private; read its status defensively). */
export function isWorkerReady(worker: Worker): boolean {
  const connection = (worker as unknown as { connection?: { _client?: { status?: string } } }).connection;
  return connection?._client?.status === 'ready';
}
