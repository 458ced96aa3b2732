/** Small async helpers shared by the steps. */

/**
 * Run `worker` over `items` with at most `limit` in flight. Rejects with the
 * first error thrown (in time), once every started worker has settled.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const run = async () => {
    while (!failure && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await worker(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, run));
  if (failure) throw (failure as { error: unknown }).error;
  return results;
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Throttle calls of `fn` to at most one per `intervalMs`; `flush()` runs the
 * last pending call now. With `startNow`, the first interval starts at
 * creation (as if `fn` had just run), so a burst of calls right away waits.
 */
export function throttle<A extends unknown[]>(
  fn: (...args: A) => void,
  intervalMs: number,
  options: { startNow?: boolean } = {},
) {
  let last = options.startNow ? Date.now() : 0;
  let pending: A | null = null;
  let timer: NodeJS.Timeout | null = null;
  const fire = () => {
    timer = null;
    if (!pending) return;
    const args = pending;
    pending = null;
    last = Date.now();
    fn(...args);
  };
  return {
    call(...args: A) {
      pending = args;
      const wait = intervalMs - (Date.now() - last);
      if (wait <= 0) fire();
      else if (!timer) {
        timer = setTimeout(fire, wait);
        timer.unref?.();
      }
    },
    flush() {
      if (timer) clearTimeout(timer);
      fire();
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
      pending = null;
    },
  };
}

/** Reject with `new Error(message)` when `promise` takes longer than `ms`; the timer never outlives the race. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  const outcome = await raceTimeout(promise, ms);
  if (outcome === 'timeout') throw new Error(message);
  return outcome;
}

/**
 * Resolve with `'timeout'` after `ms` unless `promise` settles first; the timers never outlive the race.
 *
 * The timeout is declared one turn of the event loop after its timer fires (`setImmediate`), after
 * the loop has read the sockets once: when this process was starved of CPU or its loop was busy
 * for longer than `ms`, an answer that arrived meanwhile is waiting to be read, and expired timers
 * run before sockets are read. Without that turn a slow process, not a slow server, would fail
 * calls that were answered in time.
 */
export async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(
      () => {
        immediate = setImmediate(() => resolve('timeout'));
      },
      Math.min(ms, 2_147_483_647),
    );
  });
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  }
}
