import type { Logger } from '@ncr-upload/core';
import { redactCredentials } from '@ncr-upload/core/internal';
import type { Redis, RedisOptions } from 'ioredis';

/**
 * ioredis options for the clients the CLI opens for requests (the status
 * store, the queue's producing side): while Redis is unreachable a command
 * fails at once instead of waiting in the offline queue, so an API answers 503
 * quickly instead of hanging. BullMQ's worker connection keeps its own
 * blocking-friendly options.
 *
 * A connected Redis that is slow is waited for: each request's calls are
 * bounded by the pipeline's `dependencyTimeoutMs`, which reads the sockets once
 * more before it declares a timeout. `commandTimeout` only ends commands on a
 * connection whose server stopped answering (a hung Redis, a network cut
 * without a reset), and is longer: a client's timer fires before an answer
 * that arrived while the process was starved of CPU is read, and at 1.5 s it
 * failed reads during a deploy on a busy host.
 */
export const FAIL_FAST_OPTIONS = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 10_000,
  connectTimeout: 2000,
} as const satisfies RedisOptions;

/** Where a Redis URL points, without credentials: `host:port/db`. */
export function redisEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    const db = parsed.pathname.replace(/^\//, '');
    return `${parsed.hostname}:${parsed.port || 6379}${db && db !== '0' ? `/${db}` : ''}`;
  } catch {
    return 'redis';
  }
}

/**
 * One warn line when the connection to Redis is lost (with the reason) and one
 * info line when it is back; `onReady` runs at each (re)connection.
 */
export function watchRedis(client: Redis, endpoint: string, logger: Logger | undefined): void {
  let state: 'starting' | 'up' | 'down' = 'starting';
  let reason = 'connection closed';
  client.on('error', (error: Error & { code?: string }) => {
    reason = error.code ?? redactCredentials(error.message);
  });
  client.on('ready', () => {
    if (state === 'down') logger?.info({ redis: endpoint }, 'Redis connection is back');
    else if (state === 'starting') logger?.info({ redis: endpoint }, 'connected to Redis');
    state = 'up';
  });
  const lost = () => {
    if (state === 'down') return;
    const wasUp = state === 'up';
    state = 'down';
    logger?.warn(
      { redis: endpoint, reason },
      wasUp
        ? 'Redis connection lost: submissions and reads answer 503 until it is back; retrying'
        : 'Redis is not reachable yet: submissions and reads answer 503 until it is; retrying',
    );
  };
  client.on('close', lost);
  // The first attempt failing (no 'close' before a 'ready') also counts.
  client.on('error', () => {
    if (state === 'starting') lost();
  });
}
