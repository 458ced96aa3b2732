import { UploadError } from '@ncr-upload/core';
import type { RedisClient } from './redis-client.js';

export interface RedisStatusStoreOptions {
  /**
   * An ioredis client to use: a `Redis` or a `Cluster` (every key of the store
   * shares the prefix's hash tag, so one cluster slot). It is never closed by
   * the store. Give either `client` or `url`.
   */
  client?: RedisClient;
  /** A Redis URL (`redis://host:port/db`): the store opens its own client lazily and closes it in `close()`. */
  url?: string;
  /** Key prefix, wrapped in a hash tag (`{ncr}:...`) so one deployment's keys share a cluster slot. Default `'ncr'`. */
  prefix?: string;
  /** How long a finished task (and a finished batch) is kept, in milliseconds. Default 604_800_000 (7 days). */
  retentionMs?: number;
  /**
   * A client for SUBSCRIBE (a subscribed connection can run nothing else). Never
   * closed by the store. Default: a duplicate of the main client, created on the
   * first `subscribe()` and closed in `close()`. With a `Cluster`, a `Cluster`
   * too (PUBLISH reaches every node of a cluster).
   */
  subscriber?: RedisClient;
}

const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** Check the options (a `CONFIG_INVALID` error for the first wrong one); the retention and the hash-tagged prefix. */
export function resolveStoreSettings(options: RedisStatusStoreOptions): { retentionMs: number; p: string } {
  if (!options.client && !options.url) {
    throw new UploadError('CONFIG_INVALID', 'createRedisStatusStore needs a `client` or a `url`.');
  }
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  if (!Number.isInteger(retentionMs) || retentionMs < 0) {
    throw new UploadError(
      'CONFIG_INVALID',
      `retentionMs must be a non-negative integer, got ${String(retentionMs)}.`,
    );
  }
  const prefix = options.prefix ?? 'ncr';
  if (!prefix || /[{}]/.test(prefix)) {
    throw new UploadError('CONFIG_INVALID', 'prefix must be a non-empty string without braces.');
  }
  const p = `{${prefix}}`;
  return { retentionMs, p };
}
