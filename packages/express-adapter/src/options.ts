import { createRequire } from 'node:module';
import { UploadError } from '@ncr-upload/core';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';

/** Groups of routes that can each require the API key. */
export interface AuthGroups {
  /** Submit, status, batches, search, cancel, retry, `/jobs/active`. Default: true when `apiKey` is set. */
  jobs?: boolean;
  /** `/memory-stats`, `/celery-stats`, `/worker-stats`, `/metrics`, `/events`. Default: true when `apiKey` is set. */
  monitoring?: boolean;
  /** `/health`, `/ready`, `/live` (probes usually carry no key). Default: false. */
  health?: boolean;
  /** `/`, `/openapi.json`, `/docs`, `/redoc`, `/dashboard` (pages without data). Default: false. */
  docs?: boolean;
}

export type AuthGroup = keyof AuthGroups;

export interface UploadRouterOptions {
  /** API key(s) accepted in `X-API-Key` or `Authorization: Bearer`. Several keys allow rotation. Default: none. */
  apiKey?: string | string[];
  /** Which route groups require the key. Defaults: see `AuthGroups`. A group that requires a key without `apiKey` is a configuration error. */
  auth?: AuthGroups;
  /** Largest JSON body accepted (bytes or a string like `'1mb'`). Default `'1mb'`. */
  bodyLimit?: number | string;
  /** Most jobs in one `POST /process-batch`; more is answered 413. Default 100. */
  maxBatchSize?: number;
  /** Structured logger. Default: a pino logger at `info` that redacts credentials. */
  logger?: Logger;
  /** Log one line per request. Default false (the host app logs); `createUploadApp` turns it on. */
  logRequests?: boolean;
  /** `true` (default): Prometheus metrics at `/metrics` in a registry of this router's own; a prom-client `Registry` to share one; `false`: no `/metrics`. */
  metrics?: boolean | Registry;
  /** Prefix of every metric name. Default `'ncr_upload_'`. */
  metricsPrefix?: string;
  /** False while the process drains: `/ready` answers 503. Default: always ready (unless the pipeline is draining). */
  readiness?: () => boolean;
  /**
   * `/live` answers 503 when this process consumes the queue, jobs wait, none runs
   * here and none was taken for this long. Default 600000 (10 minutes).
   */
  livenessStaleMs?: number;
  /** Name shown by `GET /` and in the OpenAPI document. Default `'NCR Upload API'`. */
  serviceName?: string;
  /** Version shown by `GET /` and in the OpenAPI document. Default: this package's version. */
  serviceVersion?: string;
  /** Seconds sent in `Retry-After` with 429 and 503 answers. Default 10. */
  retryAfterSeconds?: number;
  /** Interval of `/events` heartbeat comments. Default 15000 ms. */
  heartbeatMs?: number;
  /** Serve `/docs`, `/redoc` and `/openapi.json`. Default true. */
  docs?: boolean;
  /** Serve the live dashboard at `/dashboard`. Default true. */
  dashboard?: boolean;
}

export interface ResolvedOptions {
  apiKeys: string[];
  auth: Required<AuthGroups>;
  bodyLimit: number | string;
  maxBatchSize: number;
  logger: Logger;
  logRequests: boolean;
  metrics: boolean | Registry;
  metricsPrefix: string;
  readiness: () => boolean;
  livenessStaleMs: number;
  serviceName: string;
  serviceVersion: string;
  retryAfterSeconds: number;
  heartbeatMs: number;
  docs: boolean;
  dashboard: boolean;
}

/** Replaced by the build (tsup `define`) with the version in package.json. */
declare const __NCR_UPLOAD_VERSION__: string | undefined;

/** This package's version: written in from package.json at build time; read from it when running from source. */
export const PACKAGE_VERSION: string =
  typeof __NCR_UPLOAD_VERSION__ === 'string'
    ? __NCR_UPLOAD_VERSION__
    : (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Header paths pino removes from every log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  'res.headers["set-cookie"]',
];

export function defaultLogger(): Logger {
  return pino({
    level: 'info',
    name: 'ncr-upload-http',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
}

export function resolveOptions(options: UploadRouterOptions = {}): ResolvedOptions {
  const apiKeys = (
    Array.isArray(options.apiKey) ? options.apiKey : options.apiKey ? [options.apiKey] : []
  ).filter((key) => key.length > 0);
  const keyed = apiKeys.length > 0;
  const auth: Required<AuthGroups> = {
    jobs: options.auth?.jobs ?? keyed,
    monitoring: options.auth?.monitoring ?? keyed,
    health: options.auth?.health ?? false,
    docs: options.auth?.docs ?? false,
  };
  const needing = Object.entries(auth)
    .filter(([, required]) => required)
    .map(([group]) => group);
  if (!keyed && needing.length > 0) {
    throw new UploadError(
      'CONFIG_INVALID',
      `auth requires an API key for ${needing.join(', ')} but no apiKey is configured.`,
    );
  }
  const maxBatchSize = options.maxBatchSize ?? 100;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new UploadError('CONFIG_INVALID', 'maxBatchSize must be a positive integer.');
  }
  return {
    apiKeys,
    auth,
    bodyLimit: options.bodyLimit ?? '1mb',
    maxBatchSize,
    logger: options.logger ?? defaultLogger(),
    logRequests: options.logRequests ?? false,
    metrics: options.metrics ?? true,
    metricsPrefix: options.metricsPrefix ?? 'ncr_upload_',
    readiness: options.readiness ?? (() => true),
    livenessStaleMs: options.livenessStaleMs ?? 600_000,
    serviceName: options.serviceName ?? 'NCR Upload API',
    serviceVersion: options.serviceVersion ?? PACKAGE_VERSION,
    retryAfterSeconds: options.retryAfterSeconds ?? 10,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    docs: options.docs ?? true,
    dashboard: options.dashboard ?? true,
  };
}
