import { existsSync } from 'node:fs';
import { z } from 'zod';

/**
 * The environment variables of the `ncr-upload` CLI and `buildPipelineFromConfig`,
 * checked with zod. docs/configuration.md lists every variable.
 */

/** Aliases: the original service's name → ours. */
export const ALIASES: Record<string, string> = {
  CELERY_WORKER_CONCURRENCY: 'WORKER_CONCURRENCY',
  CELERY_WORKER_MAX_MEMORY_PER_CHILD: 'WORKER_MAX_MEMORY_PER_CHILD',
  CELERY_WORKER_MAX_TASKS_PER_CHILD: 'WORKER_MAX_TASKS_PER_CHILD',
};

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
export const EnvSchema = z
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

/** Every variable read: the schema's names and their aliases. */
export const KNOWN_VARIABLES = new Set([...Object.keys(EnvSchema.shape), ...Object.keys(ALIASES)]);
