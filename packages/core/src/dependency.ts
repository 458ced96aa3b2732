import { isUploadError, type Stage, UploadError } from './errors.js';
import { raceTimeout } from './internal/async.js';

/**
 * Bound a call to the status store or the queue: when it does not answer
 * within `timeoutMs`, or fails with anything but an `UploadError`, reject with
 * a retryable `DEPENDENCY_UNAVAILABLE` (HTTP 503 with `Retry-After`) instead of
 * hanging or answering 500. `what` names the dependency in the message.
 */
export async function boundedCall<T>(
  what: 'status store' | 'queue',
  call: () => Promise<T>,
  timeoutMs: number,
  stage: Stage = 'admission',
): Promise<T> {
  let outcome: T | 'timeout';
  try {
    outcome = await raceTimeout(call(), timeoutMs);
  } catch (error) {
    if (isUploadError(error)) throw error;
    throw unavailable(what, `it failed (${describe(error)})`, stage, error);
  }
  if (outcome === 'timeout') {
    throw unavailable(what, `it did not answer within ${timeoutMs} ms`, stage);
  }
  return outcome;
}

function unavailable(what: string, why: string, stage: Stage, cause?: unknown): UploadError {
  return new UploadError(
    'DEPENDENCY_UNAVAILABLE',
    `The ${what} is unavailable: ${why}. Retry shortly; check that Redis (or the ${what}) is reachable.`,
    { stage, retryable: true, ...(cause === undefined ? {} : { cause }) },
  );
}

/** A short, secret-free reason: a Node error code, else the error's class name. */
function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return code;
  return error instanceof Error ? error.name : 'unknown error';
}
