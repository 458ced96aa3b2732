import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { UploadError } from '@ncr-upload/core';
import { ALIASES, EnvSchema, type EnvValues, KNOWN_VARIABLES } from './config-schema.js';

/**
 * Environment configuration of the `ncr-upload` CLI and `buildPipelineFromConfig`.
 * Names follow the original Python service where it had them; `CELERY_*` names
 * are accepted as aliases. docs/configuration.md lists every variable.
 */

/** The effective configuration, grouped by part. */
export interface RunnerConfig {
  api: { host: string; port: number; key: string | undefined };
  redis: { url: string; prefix: string } | undefined;
  /** BullMQ recovery tuning (with Redis): lock time, stalled-job check interval, stalls before a job fails. */
  queue: { lockMs: number; stallCheckMs: number; maxStalls: number };
  memory: { maxPercent: number };
  worker: {
    concurrency: number;
    maxMemoryPerChildKb: number;
    maxTasksPerChild: number;
    isolation: 'inline' | 'process';
    jobTimeoutMs: number;
    shutdownTimeoutMs: number;
    healthPort: number | undefined;
    /** `serve` only: the runner's `maxLoopDelayMs` (jobs' bounded share of the API's event loop); 0 is off. */
    maxLoopDelayMs: number;
  };
  batch: { size: number; timeoutMs: number };
  s3:
    | {
        endpoint: string | undefined;
        region: string;
        bucket: string;
        accessKeyId: string | undefined;
        secretAccessKey: string | undefined;
        prefix: string;
      }
    | undefined;
  sftp:
    | {
        host: string;
        port: number;
        username: string;
        password: string | undefined;
        privateKeyPath: string | undefined;
        hostFingerprint: string | undefined;
        remoteDir: string;
      }
    | undefined;
  /** A `mysql://` URL (from DATABASE_URL or built from DB_*). */
  database:
    | { url: string; listFilesSql: string | undefined; reportResultSql: string | undefined }
    | undefined;
  validator:
    | {
        url: string;
        mode: 'multipart' | 'raw';
        healthUrl: string | undefined;
        /** Send the zip while it is produced (VALIDATOR_STREAM, default true); false: the finished zip. */
        stream: boolean;
      }
    | undefined;
  workDir: string | undefined;
  /** Stream the zip to the destination while it is validated (DELIVERY_OVERLAP, default true). */
  deliveryOverlap: boolean;
  /** Jobs of at most this many bytes run in memory, no task folder (IN_MEMORY_MAX_BYTES, default 4 MiB; 0 off). */
  inMemoryMaxBytes: number;
  dataDir: string;
  logLevel: EnvValues['LOG_LEVEL'];
  /** A module exporting `createPipeline()` to use instead of the configured adapters. */
  pipelineModule: string | undefined;
  /** `serve` on embedded storage submits the sample job at start and prints its progress. */
  sampleJob: boolean;
  /** The parsed variables, for `maskConfig`. */
  env: EnvValues;
}

export interface LoadConfigOptions {
  /** A dotenv-style file read before the environment (which wins). Default `.env`; `false` reads none. */
  envFile?: string | false;
}

/** Thrown by `loadConfig`: an UploadError `CONFIG_INVALID` naming every bad variable. */
export class ConfigError extends UploadError {
  readonly problems: { name: string; problem: string }[];
  constructor(problems: { name: string; problem: string }[]) {
    super(
      'CONFIG_INVALID',
      `Invalid configuration:\n${problems.map((p) => `  ${p.name}: ${p.problem}`).join('\n')}`,
      {
        details: { problems },
      },
    );
    this.problems = problems;
  }
}

/** Read the configuration from `env` and the `.env` file; throws `ConfigError` listing every bad variable. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): RunnerConfig {
  const envFile = options.envFile ?? '.env';
  const problems: { name: string; problem: string }[] = [];
  let fromFile: Record<string, string> = {};
  if (envFile !== false && existsSync(envFile)) {
    try {
      fromFile = parseEnv(readFileSync(envFile, 'utf8')) as Record<string, string>;
    } catch (error) {
      problems.push({ name: envFile, problem: `cannot be read (${(error as Error).message})` });
    }
  }
  const merged: Record<string, string> = {};
  const sourceName: Record<string, string> = {};
  for (const source of [fromFile, env]) {
    for (const [key, raw] of Object.entries(source)) {
      if (!KNOWN_VARIABLES.has(key) || raw === undefined || raw.trim() === '') continue;
      const name = ALIASES[key] ?? key;
      // The canonical name wins over its alias within one source.
      if (ALIASES[key] && source[name] !== undefined && source[name]?.trim() !== '') continue;
      merged[name] = raw.trim();
      sourceName[name] = key;
    }
  }
  const parsed = EnvSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '(environment)');
      problems.push({ name: sourceName[name] ?? name, problem: issue.message });
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return toConfig(parsed.data);
}

function toConfig(env: EnvValues): RunnerConfig {
  const redisUrl =
    env.REDIS_URL ?? (env.REDIS_HOST ? `redis://${env.REDIS_HOST}:${env.REDIS_PORT ?? 6379}` : undefined);
  let databaseUrl = env.DATABASE_URL;
  if (!databaseUrl && env.DB_HOST && env.DB_USER && env.DB_NAME) {
    const password = env.DB_PASSWORD ? `:${encodeURIComponent(env.DB_PASSWORD)}` : '';
    databaseUrl = `mysql://${encodeURIComponent(env.DB_USER)}${password}@${env.DB_HOST}:${env.DB_PORT}/${encodeURIComponent(env.DB_NAME)}`;
  }
  return {
    api: { host: env.API_HOST, port: env.API_PORT, key: env.API_KEY },
    redis: redisUrl ? { url: redisUrl, prefix: env.REDIS_PREFIX } : undefined,
    queue: {
      lockMs: env.QUEUE_LOCK_MS,
      stallCheckMs: env.QUEUE_STALL_CHECK_MS,
      maxStalls: env.QUEUE_MAX_STALLS,
    },
    memory: { maxPercent: env.MAX_MEMORY_USAGE_PERCENT },
    worker: {
      concurrency: env.WORKER_CONCURRENCY,
      maxMemoryPerChildKb: env.WORKER_MAX_MEMORY_PER_CHILD,
      maxTasksPerChild: env.WORKER_MAX_TASKS_PER_CHILD,
      isolation: env.WORKER_ISOLATION,
      jobTimeoutMs: Math.round(env.JOB_TIMEOUT * 1000),
      shutdownTimeoutMs: Math.round(env.SHUTDOWN_TIMEOUT * 1000),
      healthPort: env.WORKER_HEALTH_PORT,
      maxLoopDelayMs: env.SERVE_MAX_LOOP_DELAY_MS,
    },
    batch: { size: env.BATCH_SIZE, timeoutMs: Math.round(env.BATCH_TIMEOUT * 1000) },
    s3: env.S3_BUCKET
      ? {
          endpoint: env.S3_ENDPOINT,
          region: env.S3_REGION,
          bucket: env.S3_BUCKET,
          accessKeyId: env.S3_ACCESS_KEY_ID,
          secretAccessKey: env.S3_SECRET_ACCESS_KEY,
          prefix: env.S3_PREFIX,
        }
      : undefined,
    sftp:
      env.SFTP_HOST && env.SFTP_USERNAME
        ? {
            host: env.SFTP_HOST,
            port: env.SFTP_PORT,
            username: env.SFTP_USERNAME,
            password: env.SFTP_PASSWORD,
            privateKeyPath: env.SFTP_PRIVATE_KEY_PATH,
            hostFingerprint: env.SFTP_HOST_FINGERPRINT,
            remoteDir: env.SFTP_REMOTE_DIR,
          }
        : undefined,
    database: databaseUrl
      ? { url: databaseUrl, listFilesSql: env.DB_LIST_FILES_SQL, reportResultSql: env.DB_REPORT_RESULT_SQL }
      : undefined,
    validator: env.VALIDATOR_URL
      ? {
          url: env.VALIDATOR_URL,
          mode: env.VALIDATOR_MODE,
          healthUrl: env.VALIDATOR_HEALTH_URL,
          stream: env.VALIDATOR_STREAM,
        }
      : undefined,
    workDir: env.WORK_DIR,
    deliveryOverlap: env.DELIVERY_OVERLAP,
    inMemoryMaxBytes: env.IN_MEMORY_MAX_BYTES,
    dataDir: env.DATA_DIR,
    logLevel: env.LOG_LEVEL,
    pipelineModule: env.PIPELINE_MODULE,
    sampleJob: env.SAMPLE_JOB,
    env,
  };
}
