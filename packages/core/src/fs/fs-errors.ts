import { type Stage, UploadError, type UploadErrorCode } from '../errors.js';
import { safeRelativePath } from '../paths.js';

/** errno codes worth another attempt on a local disk. */
const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'ENOSPC', 'EIO']);

export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `safeRelativePath`, with the error re-staged to where the path was used. */
export function safePath(input: string, stage: Stage): string {
  try {
    return safeRelativePath(input);
  } catch (error) {
    if (error instanceof UploadError) error.stage = stage;
    throw error;
  }
}

/** The UploadError for an aborted call. */
export function cancelled(stage: Stage, reason?: unknown): UploadError {
  return new UploadError('CANCELLED', 'The task was cancelled.', { stage, cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined, stage: Stage): void {
  if (signal?.aborted) throw cancelled(stage, signal.reason);
}

/**
 * Map a file-system error to an UploadError. Messages name the relative path
 * only (never the folder the adapter was configured with).
 */
export function fromFsError(
  error: unknown,
  stage: Stage,
  fallbackCode: UploadErrorCode,
  what: string,
  signal?: AbortSignal,
): UploadError {
  if (error instanceof UploadError) return error;
  if (signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
    return cancelled(stage, error);
  }
  const errno = errnoOf(error);
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new UploadError(
      'ACCESS_DENIED',
      `Permission denied for ${what}. Check the folder's permissions.`,
      {
        stage,
        cause: error,
      },
    );
  }
  const retryable = errno !== undefined && TRANSIENT.has(errno);
  return new UploadError(fallbackCode, `File system error (${errno ?? 'unknown'}) for ${what}.`, {
    stage,
    retryable,
    cause: error,
  });
}
