import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type Catalog,
  createUploadPipeline,
  type Destination,
  type JobQueue,
  type Logger,
  type StatusStore,
  type Storage,
  type UploadPipeline,
  type Validator,
} from '@ncr-upload/core';
import type { Redis } from 'ioredis';
import type { RunnerConfig } from './config.js';
import { FAIL_FAST_OPTIONS, redisEndpoint, watchRedis } from './redis-connection.js';
import { seedSampleJob } from './sample-data.js';

/** Which implementation each part of a configured pipeline uses. */
export interface PipelineParts {
  storage: 'folder (embedded)' | 's3';
  catalog: 'storage prefix (embedded)' | 's3 prefix' | 'mysql';
  validator: 'built-in (embedded)' | 'http';
  destination: 'folder (embedded)' | 'sftp';
  statusStore: 'memory (embedded)' | 'redis' | 'parent process';
  queue: 'memory (embedded)' | 'bullmq';
}

export interface BuiltPipeline {
  pipeline: UploadPipeline;
  parts: PipelineParts;
  /** The embedded destination folder, when used. */
  outbox: string | undefined;
  /** The embedded storage folder, when used. */
  storageRoot: string | undefined;
  /** Close the pipeline (waiting up to `timeoutMs` for active tasks), then every adapter built here. */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

export interface BuildPipelineOptions {
  /** A status store to use when Redis is not configured (child processes get their parent's). Default: in-memory. */
  statusStore?: StatusStore;
  /** Structured logger passed to the pipeline. Default: silent. */
  logger?: Logger;
  /** Seed the sample job into the embedded storage. Default true. */
  seedSample?: boolean;
}

/** The adapters a task runs through, built from the configuration (no queue, no pipeline). */
export interface BuiltParts {
  catalog: Catalog;
  storage: Storage;
  validator: Validator;
  destination: Destination;
  /** The Redis status store when configured, else `options.statusStore` (or undefined: in-memory). */
  statusStore: StatusStore | undefined;
  catalogKind: PipelineParts['catalog'];
  outbox: string | undefined;
  storageRoot: string | undefined;
  /** What was opened here and must be closed (the status store only when built here). */
  owned: unknown[];
  /** The Redis status store's client when built here: the queue shares it, so a submission is one round trip. */
  redisClient?: Redis;
}

/**
 * Build the adapters of the configuration: each part uses its real adapter
 * when its variables are set (S3, SFTP, MySQL, HTTP validator, Redis store),
 * otherwise the embedded default (folders below DATA_DIR, built-in validator).
 * Adapters are imported only when used, so unused SDKs are never loaded.
 */
export async function buildPartsFromConfig(
  config: RunnerConfig,
  options: BuildPipelineOptions = {},
): Promise<BuiltParts> {
  const dataDir = resolve(config.dataDir);
  let storageRoot: string | undefined;
  let outbox: string | undefined;

  let storage: Storage;
  if (config.s3) {
    const { createS3Storage, s3ClientOptionsForCompatible } = await import('@ncr-upload/core/s3');
    const s3 = config.s3;
    const clientOptions =
      s3.endpoint && s3.accessKeyId && s3.secretAccessKey
        ? s3ClientOptionsForCompatible({
            endpoint: s3.endpoint,
            region: s3.region,
            accessKeyId: s3.accessKeyId,
            secretAccessKey: s3.secretAccessKey,
          })
        : {
            region: s3.region,
            ...(s3.endpoint ? { endpoint: s3.endpoint, forcePathStyle: true } : {}),
            ...(s3.accessKeyId && s3.secretAccessKey
              ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
              : {}),
          };
    storage = createS3Storage({ clientOptions, bucket: s3.bucket, prefix: s3.prefix });
  } else {
    const { createFolderStorage } = await import('@ncr-upload/core/fs');
    storageRoot = resolve(dataDir, 'storage');
    if (options.seedSample !== false) await seedSampleJob(storageRoot);
    storage = createFolderStorage({ root: storageRoot });
  }

  let catalog: Catalog;
  let catalogKind: PipelineParts['catalog'];
  if (config.database) {
    const { createMysqlCatalog } = await import('@ncr-upload/core/mysql');
    const database = config.database;
    catalog = createMysqlCatalog({
      connection: database.url,
      ...(database.listFilesSql ? { listFilesSql: database.listFilesSql } : {}),
      ...(database.reportResultSql ? { reportResultSql: database.reportResultSql } : {}),
    });
    catalogKind = 'mysql';
  } else {
    const { createPrefixCatalog } = await import('@ncr-upload/core/fs');
    catalog = createPrefixCatalog({ storage });
    catalogKind = config.s3 ? 's3 prefix' : 'storage prefix (embedded)';
  }

  let validator: Validator;
  if (config.validator) {
    const { createHttpValidator } = await import('@ncr-upload/core/http-validator');
    const { url, mode, healthUrl, stream } = config.validator;
    validator = createHttpValidator({ url, mode, stream, ...(healthUrl ? { healthUrl } : {}) });
  } else {
    const { createBuiltinValidator } = await import('@ncr-upload/core/fs');
    validator = createBuiltinValidator({});
  }

  let destination: Destination;
  if (config.sftp) {
    const { createSftpDestination } = await import('@ncr-upload/core/sftp');
    const sftp = config.sftp;
    destination = createSftpDestination({
      host: sftp.host,
      port: sftp.port,
      username: sftp.username,
      ...(sftp.password ? { password: sftp.password } : {}),
      ...(sftp.privateKeyPath ? { privateKey: await readFile(sftp.privateKeyPath) } : {}),
      ...(sftp.hostFingerprint ? { hostFingerprint: sftp.hostFingerprint } : {}),
      remoteDir: sftp.remoteDir,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  } else {
    const { createFolderDestination } = await import('@ncr-upload/core/fs');
    outbox = resolve(dataDir, 'outbox');
    destination = createFolderDestination({ root: outbox });
  }

  let statusStore: StatusStore | undefined = options.statusStore;
  let redisClient: Redis | undefined;
  const owned: unknown[] = [catalog, storage, validator, destination];
  if (config.redis) {
    const { createRedisStatusStore, endClient } = await import('@ncr-upload/redis-store');
    const { Redis } = await import('ioredis');
    // Our own clients: requests fail fast while Redis is down; the subscriber waits and resubscribes.
    // No auto-pipelining: the queue shares this client, and ioredis's pipeline per batch copies every
    // script defined on the client (BullMQ's dozens). With it on, a worker needed 0.5-1.6 ms more CPU
    // per tiny job and the API 8 % more per submission (docs/performance.md). The create and the add of
    // a submission still leave together: both are written in the same loop turn, in order.
    const client = new Redis(config.redis.url, FAIL_FAST_OPTIONS);
    const subscriber = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined);
    watchRedis(client, redisEndpoint(config.redis.url), options.logger);
    statusStore = createRedisStatusStore({ client, subscriber, prefix: config.redis.prefix });
    // Our own clients end at once when Redis is down (a QUIT would wait for it).
    owned.push(statusStore, { close: () => endClient(client) }, { close: () => endClient(subscriber) });
    redisClient = client;
  }
  return {
    catalog,
    storage,
    validator,
    destination,
    statusStore,
    catalogKind,
    outbox,
    storageRoot,
    owned,
    ...(redisClient ? { redisClient } : {}),
  };
}

/**
 * How tasks run, from the configuration: the same for the pipeline of the main
 * process and the task worker of a child process.
 */
export function taskOptionsFromConfig(config: RunnerConfig): {
  jobTimeoutMs: number;
  deliveryOverlap: boolean;
  inMemoryMaxBytes: number;
  workDir?: string;
} {
  return {
    jobTimeoutMs: config.worker.jobTimeoutMs,
    deliveryOverlap: config.deliveryOverlap,
    inMemoryMaxBytes: config.inMemoryMaxBytes,
    ...(config.workDir ? { workDir: resolve(config.workDir) } : {}),
  };
}

/** Closes each part that has `close()`; failures are ignored (shutdown goes on). */
export async function closeParts(parts: readonly unknown[]): Promise<void> {
  for (const part of parts) {
    const closer = (part as { close?: () => Promise<void> } | undefined)?.close;
    if (typeof closer === 'function') await closer.call(part).catch(() => undefined);
  }
}

/**
 * Build an upload pipeline from the configuration (`buildPartsFromConfig`,
 * plus the BullMQ queue when Redis is configured, else the in-memory queue).
 */
export async function buildPipelineFromConfig(
  config: RunnerConfig,
  options: BuildPipelineOptions = {},
): Promise<BuiltPipeline> {
  const built = await buildPartsFromConfig(config, options);
  const { catalog, storage, validator, destination, statusStore, catalogKind, outbox, storageRoot } = built;
  let queue: JobQueue | undefined;
  let storeKind: PipelineParts['statusStore'] = options.statusStore ? 'parent process' : 'memory (embedded)';
  if (config.redis) {
    const { createBullmqQueue } = await import('@ncr-upload/redis-store');
    queue = createBullmqQueue({
      // The store's client when it was built here: the task's creation and its job's add then go in one
      // transaction (`createAndAdd`). A store from a parent process keeps the queue on its own connection.
      connection: built.redisClient ?? { ...redisConnectionOptions(config.redis.url), ...FAIL_FAST_OPTIONS },
      prefix: `{${config.redis.prefix}}`,
      lockDurationMs: config.queue.lockMs,
      stalledIntervalMs: config.queue.stallCheckMs,
      maxStalledCount: config.queue.maxStalls,
    });
    storeKind = 'redis';
  }

  const pipeline = createUploadPipeline({
    catalog,
    storage,
    validator,
    destination,
    ...(statusStore ? { statusStore } : {}),
    ...(queue ? { queue } : {}),
    concurrency: config.worker.concurrency,
    maxMemoryPercent: config.memory.maxPercent,
    batchSize: config.batch.size,
    batchTimeoutMs: config.batch.timeoutMs,
    ...taskOptionsFromConfig(config),
    ...(options.logger ? { logger: options.logger } : {}),
  });

  // The queue first: it may run on the store's client, which closes with the store.
  const owned = [...(queue ? [queue] : []), ...built.owned];
  let closing: Promise<void> | undefined;
  const close = (closeOptions: { timeoutMs?: number } = {}) => {
    closing ??= (async () => {
      await pipeline.close(closeOptions);
      await closeParts(owned);
    })();
    return closing;
  };

  return {
    pipeline,
    close,
    parts: {
      storage: config.s3 ? 's3' : 'folder (embedded)',
      catalog: catalogKind,
      validator: config.validator ? 'http' : 'built-in (embedded)',
      destination: config.sftp ? 'sftp' : 'folder (embedded)',
      statusStore: storeKind,
      queue: config.redis ? 'bullmq' : 'memory (embedded)',
    },
    outbox,
    storageRoot,
  };
}

/** ioredis connection options from a `redis://` or `rediss://` URL. */
export function redisConnectionOptions(url: string): {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
} {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.replace(/^\//, '') || '0');
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
