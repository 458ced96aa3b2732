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

/**
 * Client messages known to carry no secret, and what they mean. Any other message
 * stays out of the reason: it may name hosts or carry what the server echoed.
 */
const KNOWN_MESSAGES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Command timed out$/, 'a command timed out'],
  [/^Connection is closed\.?$/, 'the connection is closed'],
  [/^Stream isn't writeable/, 'not connected'],
];

/** A short, secret-free reason: a Node error code, a known client message, else the error's class name. */
function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return code;
  if (!(error instanceof Error)) return 'unknown error';
  const known = KNOWN_MESSAGES.find(([pattern]) => pattern.test(error.message));
  return known ? `${error.name}: ${known[1]}` : error.name;
}
