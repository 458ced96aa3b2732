import { isUploadError } from './errors.js';
import { sleep } from './internal/async.js';
import type { Logger } from './pipeline-types.js';
import type { StatusStore } from './ports/status-store.js';

/** The store methods a worker calls; their failures from an outage are retried. */
const RETRIED = ['getTask', 'updateTask', 'startAttempt', 'getBatch', 'listActive'] as const;

/**
 * The status store as a task worker uses it: a call that fails for a reason
 * other than an `UploadError` (Redis unreachable, a command timeout) is tried
 * again every `intervalMs` for up to `retryForMs`, so a running task rides out
 * a short outage instead of failing or ending twice. `updateTask` merges a
 * patch and `startAttempt` does not start twice for one worker, so trying
 * them again is safe. The API side keeps failing fast.
 */
export function patientStore(
  store: StatusStore,
  options: { retryForMs: number; intervalMs?: number; logger?: Logger },
): StatusStore {
  const intervalMs = options.intervalMs ?? 250;
  const wrapped: StatusStore = Object.create(store) as StatusStore;
  for (const name of RETRIED) {
    const original = store[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    // An optional capability the store lacks stays absent.
    if (!original) continue;
    (wrapped as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      const deadline = Date.now() + options.retryForMs;
      let warned = false;
      for (;;) {
        try {
          return await original.apply(store, args);
        } catch (error) {
          if (isUploadError(error) || Date.now() + intervalMs > deadline) throw error;
          if (!warned) {
            warned = true;
            options.logger?.warn(
              { call: name, err: error instanceof Error ? error.name : 'error' },
              'status store unavailable; the task worker retries the call',
            );
          }
          await sleep(intervalMs);
        }
      }
    };
  }
  return wrapped;
}
