/**
 * One error class for everything the pipeline and its adapters throw.
 *
 * `code` is a closed union so callers (and the HTTP adapter's status table) can
 * switch on it exhaustively; `retryable` tells the pipeline whether another
 * attempt can help; `stage` says where it happened. Messages say what to do and
 * never contain a secret.
 */

/** Every stage a task passes through, in order. */
export const STAGES = [
  'admission',
  'queue',
  'resolve',
  'layout',
  'fetch',
  'archive',
  'validate',
  'deliver',
  'report',
  'cleanup',
] as const;
export type Stage = (typeof STAGES)[number];

export const ERROR_CODES = [
  /** The job request did not match the schema. */
  'INVALID_JOB',
  /** Memory is above the threshold: the job was not accepted. Retry later. */
  'NOT_ACCEPTING',
  /** The queue holds as many jobs as it is allowed to. Retry later. */
  'QUEUE_FULL',
  /** The status store or the queue (Redis) did not answer in time: nothing was created. Retry later. */
  'DEPENDENCY_UNAVAILABLE',
  /** No task or batch with that id. */
  'NOT_FOUND',
  /** The operation is not allowed in the task's current state (e.g. retry a running task). */
  'INVALID_STATE',
  /** The catalog found no files for the job. */
  'NO_FILES',
  /** A file the catalog listed is missing from storage. */
  'FILE_NOT_FOUND',
  /** Storage, database or server refused the credentials or the permission. */
  'ACCESS_DENIED',
  /** Bytes received differ from the size the storage or catalog announced. */
  'SIZE_MISMATCH',
  /** A path from the catalog, storage or `organize` could not be made safe. */
  'UNSAFE_PATH',
  /** Two files would land on the same path. */
  'DUPLICATE_PATH',
  /** Storage failed for another reason. */
  'STORAGE_ERROR',
  /** The catalog (e.g. the database) failed. */
  'CATALOG_ERROR',
  /** Writing the zip failed. */
  'ARCHIVE_ERROR',
  /** The validator said the archive is not valid. Never retried. */
  'VALIDATION_REJECTED',
  /** The validator could not be reached or answered badly. */
  'VALIDATOR_ERROR',
  /** The destination failed. */
  'DESTINATION_ERROR',
  /** A file with the final name already exists and the policy says fail. */
  'DESTINATION_EXISTS',
  /** The SFTP server's host key does not match the pinned fingerprint. */
  'HOST_KEY_MISMATCH',
  /** A network connection failed or dropped. */
  'CONNECTION_ERROR',
  /** The job ran longer than its timeout. */
  'TIMEOUT',
  /** The task was cancelled. */
  'CANCELLED',
  /** The worker stopped (shutdown, crash) while the task ran. */
  'INTERRUPTED',
  /** The worker process running the task exited unexpectedly. */
  'WORKER_CRASHED',
  /** Configuration is invalid. */
  'CONFIG_INVALID',
  /** Anything else: a bug. */
  'INTERNAL',
] as const;
export type UploadErrorCode = (typeof ERROR_CODES)[number];

export interface UploadErrorOptions {
  /** Where it happened. */
  stage?: Stage;
  /** Whether another attempt may succeed. Default: false. */
  retryable?: boolean;
  /** The underlying error. Never serialised to clients. */
  cause?: unknown;
  /** Extra, secret-free facts (field errors, key names, validator reasons). */
  details?: unknown;
}

/** The JSON form stored in task records and returned by the HTTP API. */
export interface UploadErrorJson {
  code: UploadErrorCode;
  message: string;
  stage?: Stage | undefined;
  retryable: boolean;
  details?: unknown;
}

export class UploadError extends Error {
  override readonly name = 'UploadError';
  readonly code: UploadErrorCode;
  stage: Stage | undefined;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: UploadErrorCode, message: string, options: UploadErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.stage = options.stage;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): UploadErrorJson {
    return {
      code: this.code,
      message: this.message,
      stage: this.stage,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isUploadError(error: unknown): error is UploadError {
  return error instanceof UploadError || (error instanceof Error && error.name === 'UploadError');
}

const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** True for errors that look like a dropped or refused network connection. */
export function isNetworkError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Turn anything thrown into an UploadError. Unknown errors become `fallbackCode`
 * (retryable when they look like network failures); the stage is filled in when
 * missing. Messages of foreign errors are kept out of the public message, which
 * could otherwise leak a URL with credentials.
 */
export function toUploadError(
  error: unknown,
  stage: Stage,
  fallbackCode: UploadErrorCode = 'INTERNAL',
): UploadError {
  if (isUploadError(error)) {
    if (!error.stage) error.stage = stage;
    return error;
  }
  if (isAbortError(error)) {
    return new UploadError('CANCELLED', 'The task was cancelled.', { stage, cause: error });
  }
  const network = isNetworkError(error);
  const code: UploadErrorCode = network ? 'CONNECTION_ERROR' : fallbackCode;
  const what = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const message = network
    ? `A network connection failed during ${stage}${typeof what === 'string' ? ` (${what})` : ''}; it will be retried.`
    : `Unexpected error during ${stage}${typeof what === 'string' ? ` (${what})` : ''}. Check the server logs for the cause.`;
  return new UploadError(code, message, { stage, retryable: network, cause: error });
}

export function isAbortError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR')
  );
}
