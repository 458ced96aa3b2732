import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { UploadError } from '@ncr-upload/core';
import { z } from 'zod';

/**
 * Environment configuration of the `ncr-upload` CLI and `buildPipelineFromConfig`.
 * Names follow the original Python service where it had them; `CELERY_*` names
 * are accepted as aliases. docs/configuration.md lists every variable.
 */

/** Aliases: the original service's name → ours. */
const ALIASES: Record<string, string> = {
  CELERY_WORKER_CONCURRENCY: 'WORKER_CONCURRENCY',
  CELERY_WORKER_MAX_MEMORY_PER_CHILD: 'WORKER_MAX_MEMORY_PER_CHILD',
  CELERY_WORKER_MAX_TASKS_PER_CHILD: 'WORKER_MAX_TASKS_PER_CHILD',
};

/** Variables whose values never reach a log, a banner or an error message. */
export const SECRET_VARIABLES = new Set([
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'SFTP_PASSWORD',
  'DATABASE_URL',
  'DB_PASSWORD',
  'API_KEY',
  'REDIS_URL',
]);

const integer = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .refine(Number.isInteger, 'must be a whole number')
    .refine((value) => value >= min && value <= max, `must be between ${min} and ${max}`);
const TRUE_WORDS = ['true', '1', 'yes', 'y', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'n', 'off'];
/** The usual boolean words, in any case: true/false, 1/0, yes/no, y/n, on/off. */
const boolean = z.string().transform((value, context) => {
  const word = value.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  context.addIssue({ code: 'custom', message: 'must be true or false (or 1/0, yes/no, on/off)' });
  return z.NEVER;
});
/** Longest timeout in seconds: timers hold at most 2^31-1 ms (longer ones fire at once), minus the 30 s grace added to JOB_TIMEOUT. */
const MAX_TIMEOUT_SECONDS = 2_000_000;
const seconds = z.coerce
  .number({ error: 'must be a number of seconds' })
  .refine((value) => Number.isFinite(value) && value > 0, 'must be a positive number of seconds')
  .refine(
    (value) => !(value > MAX_TIMEOUT_SECONDS),
    `must be at most ${MAX_TIMEOUT_SECONDS} seconds (about 23 days)`,
  );
const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((protocol) => `${protocol}//`).join(' or ')}`,
  );

const EnvSchema = z
  .object({
    API_HOST: z.string().default('0.0.0.0'),
    API_PORT: integer(0, 65535).default(8001),
    API_KEY: z.string().min(8, 'must be at least 8 characters').optional(),
    REDIS_URL: url(['redis:', 'rediss:']).optional(),
    REDIS_HOST: z.string().optional(),
    REDIS_PORT: integer(1, 65535).optional(),
    REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, _ . and -')
      .default('ncr'),
    QUEUE_LOCK_MS: integer(1000, 3_600_000).default(6000),
    QUEUE_STALL_CHECK_MS: integer(500, 3_600_000).default(3000),
    QUEUE_MAX_STALLS: integer(0, 1000).default(2),
    MAX_MEMORY_USAGE_PERCENT: z.coerce
      .number({ error: 'must be a number' })
      .refine((value) => value > 0 && value <= 100, 'must be a percentage above 0 and at most 100')
      .default(80),
    WORKER_CONCURRENCY: integer(1, 1024).default(4),
    WORKER_MAX_MEMORY_PER_CHILD: integer(1024, 1_000_000_000).default(200_000),
    WORKER_MAX_TASKS_PER_CHILD: integer(1, 1_000_000_000).default(1000),
    WORKER_ISOLATION: z.enum(['inline', 'process'], { error: 'must be inline or process' }).default('inline'),
    WORKER_HEALTH_PORT: integer(0, 65535).optional(),
    SERVE_MAX_LOOP_DELAY_MS: integer(0, 10_000).default(5),
    JOB_TIMEOUT: seconds.default(1800),
    SHUTDOWN_TIMEOUT: seconds.default(30),
    BATCH_SIZE: integer(1, 10_000).default(5),
    BATCH_TIMEOUT: seconds.default(300),
    S3_ENDPOINT: url(['http:', 'https:']).optional(),
    S3_REGION: z.string().default('us-east-1'),
    S3_BUCKET: z.string().optional(),
    S3_ACCESS_KEY_ID: z.string().optional(),
    S3_SECRET_ACCESS_KEY: z.string().optional(),
    S3_PREFIX: z.string().default(''),
    SFTP_HOST: z.string().optional(),
    SFTP_PORT: integer(1, 65535).default(22),
    SFTP_USERNAME: z.string().optional(),
    SFTP_PASSWORD: z.string().optional(),
    SFTP_PRIVATE_KEY_PATH: z.string().optional(),
    SFTP_HOST_FINGERPRINT: z.string().optional(),
    SFTP_REMOTE_DIR: z.string().default('.'),
    DATABASE_URL: url(['mysql:', 'mariadb:']).optional(),
    DB_HOST: z.string().optional(),
    DB_PORT: integer(1, 65535).default(3306),
    DB_USER: z.string().optional(),
    DB_PASSWORD: z.string().optional(),
    DB_NAME: z.string().optional(),
    DB_LIST_FILES_SQL: z.string().optional(),
    DB_REPORT_RESULT_SQL: z.string().optional(),
    VALIDATOR_URL: url(['http:', 'https:']).optional(),
    VALIDATOR_MODE: z.enum(['multipart', 'raw'], { error: 'must be multipart or raw' }).default('multipart'),
    VALIDATOR_HEALTH_URL: url(['http:', 'https:']).optional(),
    VALIDATOR_STREAM: boolean.default(true),
    WORK_DIR: z.string().optional(),
    DATA_DIR: z.string().default('./data'),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: 'must be one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
    PIPELINE_MODULE: z.string().optional(),
    DELIVERY_OVERLAP: boolean.default(true),
    IN_MEMORY_MAX_BYTES: integer(0, 1024 * 1024 * 1024).default(4 * 1024 * 1024),
    SAMPLE_JOB: boolean.default(true),
  })
  .superRefine(
    (env, context) => {
      const problem = (name: string, message: string) =>
        context.addIssue({ code: 'custom', path: [name], message });
      if (env.REDIS_PORT !== undefined && !env.REDIS_HOST && !env.REDIS_URL) {
        problem('REDIS_HOST', 'must be set when REDIS_PORT is set (or use REDIS_URL)');
      }
      const s3Set = env.S3_ENDPOINT || env.S3_BUCKET || env.S3_ACCESS_KEY_ID || env.S3_SECRET_ACCESS_KEY;
      if (s3Set && !env.S3_BUCKET) problem('S3_BUCKET', 'must be set when other S3_* variables are set');
      if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
        problem(
          env.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID',
          'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together',
        );
      }
      const sftpSet = env.SFTP_HOST || env.SFTP_USERNAME || env.SFTP_PASSWORD || env.SFTP_PRIVATE_KEY_PATH;
      if (sftpSet) {
        if (!env.SFTP_HOST) problem('SFTP_HOST', 'must be set when other SFTP_* variables are set');
        if (!env.SFTP_USERNAME) problem('SFTP_USERNAME', 'must be set when SFTP_HOST is set');
        if (!env.SFTP_PASSWORD && !env.SFTP_PRIVATE_KEY_PATH) {
          problem('SFTP_PASSWORD', 'set SFTP_PASSWORD or SFTP_PRIVATE_KEY_PATH');
        }
        if (!env.SFTP_HOST_FINGERPRINT) {
          problem(
            'SFTP_HOST_FINGERPRINT',
            'must be set to the server key fingerprint (ssh-keyscan HOST | ssh-keygen -lf -)',
          );
        }
        if (env.SFTP_PRIVATE_KEY_PATH && !existsSync(env.SFTP_PRIVATE_KEY_PATH)) {
          problem('SFTP_PRIVATE_KEY_PATH', 'file not found');
        }
      }
      if ((env.DB_USER || env.DB_NAME || env.DB_PASSWORD) && !env.DB_HOST && !env.DATABASE_URL) {
        problem('DB_HOST', 'must be set when other DB_* variables are set (or use DATABASE_URL)');
      }
      if (env.DB_HOST && !env.DATABASE_URL && (!env.DB_USER || !env.DB_NAME)) {
        problem(env.DB_USER ? 'DB_NAME' : 'DB_USER', 'DB_USER and DB_NAME must be set with DB_HOST');
      }
    },
    { when: () => true },
  );

export type EnvValues = z.output<typeof EnvSchema>;

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

const KNOWN = new Set([...Object.keys(EnvSchema.shape), ...Object.keys(ALIASES)]);

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
      if (!KNOWN.has(key) || raw === undefined || raw.trim() === '') continue;
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

/** The effective variables with secrets shown as `***` (credentials inside URLs too). */
export function maskConfig(config: RunnerConfig): Record<string, string | number | boolean | undefined> {
  const masked: Record<string, string | number | boolean | undefined> = {};
  for (const [name, value] of Object.entries(config.env)) {
    if (value === undefined) masked[name] = undefined;
    else if (URL_SECRETS.has(name)) masked[name] = maskUrl(String(value)) ?? '***';
    else if (SECRET_VARIABLES.has(name)) masked[name] = '***';
    else masked[name] = value;
  }
  return masked;
}

/** Secret variables holding a URL: shown with their credentials and query masked, the host kept. */
const URL_SECRETS = new Set(['DATABASE_URL', 'REDIS_URL', 'VALIDATOR_URL', 'VALIDATOR_HEALTH_URL']);

/**
 * `redis://user:pass@host:6379/0?password=x` → `redis://***@host:6379/0?***`: credentials
 * and the query (drivers read passwords from it too) masked; null when not a URL with a host.
 */
export function maskUrl(value: string): string | null {
  try {
    const parsed = new URL(value);
    if (!parsed.host) return null;
    const credentials = parsed.username || parsed.password ? '***@' : '';
    const path = parsed.pathname === '/' ? '' : parsed.pathname;
    return `${parsed.protocol}//${credentials}${parsed.host}${path}${parsed.search ? '?***' : ''}`;
  } catch {
    return null;
  }
}
