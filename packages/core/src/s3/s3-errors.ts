import { isAbortError, isNetworkError, UploadError } from '../errors.js';

/** What was being done when an S3 call failed; used in messages (never credentials). */
export interface S3ErrorContext {
  operation: 'GetObject' | 'ListObjectsV2' | 'HeadBucket';
  bucket: string;
  key?: string;
}

const ACCESS_DENIED_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AccountProblem',
  'AllAccessDisabled',
  'CredentialsProviderError',
]);

const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The S3 error code (`NoSuchKey`, `SlowDown`...) or, failing that, the error's name. */
export function s3ErrorName(error: unknown): string | undefined {
  const shape = error as SdkErrorShape | undefined;
  if (typeof shape?.Code === 'string') return shape.Code;
  if (typeof shape?.name === 'string' && shape.name !== 'Error') return shape.name;
  return undefined;
}

export function s3HttpStatus(error: unknown): number | undefined {
  const status = (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Throttling, 5xx, timeouts and dropped connections: worth another attempt. */
export function isTransientS3Error(error: unknown): boolean {
  if (isNetworkError(error)) return true;
  const name = s3ErrorName(error);
  if (name !== undefined && RETRYABLE_NAMES.has(name)) return true;
  const status = s3HttpStatus(error);
  return status !== undefined && (status === 429 || status >= 500);
}

function where(context: S3ErrorContext): string {
  return context.key === undefined
    ? `bucket "${context.bucket}"`
    : `"${context.key}" in bucket "${context.bucket}"`;
}

/**
 * SDK errors carry the whole HTTP exchange (`$response`, with request headers
 * such as the signature) which would bloat logs; keep what helps diagnose.
 */
function slimCause(error: unknown): unknown {
  if (!(error instanceof Error) || !('$response' in error)) return error;
  const shape = error as Error & SdkErrorShape & { $metadata?: Record<string, unknown> };
  const slim = new Error(error.message);
  slim.name = error.name;
  const metadata = shape.$metadata ?? {};
  Object.assign(slim, {
    ...(typeof shape.Code === 'string' ? { code: shape.Code } : {}),
    $metadata: {
      httpStatusCode: metadata.httpStatusCode,
      requestId: metadata.requestId,
      attempts: metadata.attempts,
    },
  });
  return slim;
}

/** Maps an error thrown by an S3 call to an UploadError with a code a caller can act on. */
export function toS3UploadError(thrown: unknown, context: S3ErrorContext): UploadError {
  if (thrown instanceof UploadError) return thrown;
  const error = slimCause(thrown);
  const details = { bucket: context.bucket, ...(context.key === undefined ? {} : { key: context.key }) };
  if (isAbortError(error)) {
    return new UploadError('CANCELLED', `S3 ${context.operation} of ${where(context)} was cancelled.`, {
      cause: error,
      details,
    });
  }
  const name = s3ErrorName(error);
  const status = s3HttpStatus(error);
  const label = [name, status].filter((part) => part !== undefined).join(' ');
  const suffix = label ? ` (${label})` : '';
  if (name === 'NoSuchBucket') {
    return new UploadError(
      'STORAGE_ERROR',
      `S3 bucket "${context.bucket}" does not exist at the configured endpoint${suffix}. Check the bucket name, endpoint and region.`,
      { cause: error, details },
    );
  }
  if (name === 'NoSuchKey' || (status === 404 && context.key !== undefined)) {
    return new UploadError('FILE_NOT_FOUND', `S3 object ${where(context)} does not exist${suffix}.`, {
      cause: error,
      details,
    });
  }
  if (status === 404) {
    return new UploadError(
      'STORAGE_ERROR',
      `S3 bucket "${context.bucket}" was not found${suffix}. Check the bucket name, endpoint and region.`,
      { cause: error, details },
    );
  }
  if ((name !== undefined && ACCESS_DENIED_NAMES.has(name)) || status === 401 || status === 403) {
    return new UploadError(
      'ACCESS_DENIED',
      `S3 refused ${context.operation} on ${where(context)}${suffix}. Check the S3 credentials (access key id and secret key) and the bucket's permissions.`,
      { cause: error, details },
    );
  }
  const retryable = isTransientS3Error(error);
  return new UploadError(
    'STORAGE_ERROR',
    retryable
      ? `S3 ${context.operation} of ${where(context)} failed${suffix}; it can be retried.`
      : `S3 ${context.operation} of ${where(context)} failed${suffix}. Check the S3 endpoint and the server logs.`,
    { retryable, cause: error, details },
  );
}
