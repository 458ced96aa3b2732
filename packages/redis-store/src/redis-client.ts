import type { Cluster, Redis } from 'ioredis';

/** An ioredis client: a single server (`Redis`) or a Redis Cluster (`Cluster`). */
export type RedisClient = Redis | Cluster;

/** True for an ioredis `Redis` or `Cluster` instance (duck-typed: copies of ioredis may differ). */
export function isRedisClient(value: unknown): value is RedisClient {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { duplicate?: unknown; isCluster?: unknown };
  return typeof candidate.duplicate === 'function' && typeof candidate.isCluster === 'boolean';
}

export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/**
 * A new connection with the settings of `client` (same server, or same cluster
 * nodes), with `override` applied to each connection to a Redis server.
 */
export function duplicateClient(
  client: RedisClient,
  override: {
    maxRetriesPerRequest?: null;
    lazyConnect?: boolean;
    enableOfflineQueue?: boolean;
    commandTimeout?: undefined;
    enableAutoPipelining?: boolean;
  },
): RedisClient {
  if (!isCluster(client)) return client.duplicate(override);
  const { lazyConnect, ...perNode } = override;
  return client.duplicate(undefined, {
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    redisOptions: { ...client.options.redisOptions, ...perNode },
  });
}

/**
 * True when Redis Cluster hashes keys starting with `prefix` by a hash tag only
 * (the text between the first `{` and the next `}`, when not empty): they all
 * share one cluster slot.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/** What `endClient` needs of an ioredis client (`Redis` or `Cluster`). */
export interface EndableClient {
  status: string;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * End a client opened here: `QUIT` when it is connected (replies in flight
 * arrive first), else disconnect at once. A `QUIT` given to a client that is
 * still connecting or retrying waits in its offline queue for a server that
 * may never answer, and shutdown with it.
 */
export async function endClient(client: EndableClient): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}
