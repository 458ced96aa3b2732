import { setTimeout as sleep } from 'node:timers/promises';
import { isAbortError } from '../errors.js';
import { isTransientS3Error } from './s3-errors.js';

export interface RetryPolicy {
  /** Attempts in all (the first one included). */
  maxAttempts: number;
  /** Delay before the first retry; doubles each time, with full jitter. */
  baseDelayMs: number;
  /** Upper bound of one delay. */
  maxDelayMs: number;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, the
 * attempts run out or the signal aborts. Only throttling, 5xx, timeouts and
 * dropped connections are retried.
 */
export async function withS3Retry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
): Promise<T> {
  for (let number = 1; ; number += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (
        number >= policy.maxAttempts ||
        isAbortError(error) ||
        signal?.aborted ||
        !isTransientS3Error(error)
      ) {
        throw error;
      }
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (number - 1));
      await sleep(Math.round(Math.random() * ceiling), undefined, signal ? { signal } : undefined);
    }
  }
}
