import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** The delay timer's period, in ms: the histogram records it plus the delay, so it is subtracted. */
const RESOLUTION_MS = 5;

/**
 * The next limit of jobs at once from one window's event-loop delay, additive
 * increase, multiplicative decrease: above the target, half (at least 1);
 * otherwise one more (at most `max`).
 */
export function decideLoopLimit(input: {
  limit: number;
  max: number;
  delayMs: number;
  targetMs: number;
}): number {
  const { limit, max, delayMs, targetMs } = input;
  if (delayMs > targetMs) return Math.max(1, Math.min(max, Math.floor(limit / 2)));
  return Math.max(1, Math.min(max, limit + 1));
}

export interface LoopGuard {
  /** Jobs at once the loop allows now. */
  readonly limit: number;
  /** The delay measured in the last window, in ms (p99). */
  readonly delayMs: number;
  stop(): void;
}

/**
 * Watch this process's event-loop delay (perf_hooks, a 5 ms timer in native
 * code) and turn it into a limit of jobs at once, so jobs running inline get a
 * bounded share of a loop that also serves HTTP. Every `intervalMs` the p99
 * delay of the window is compared with `targetMs` (see `decideLoopLimit`);
 * `onChange` runs when the limit moves.
 */
export function createLoopGuard(options: {
  targetMs: number;
  intervalMs: number;
  /** The most jobs at once (the runner's maximum, or the operator's). */
  max: () => number;
  onChange: (limit: number, delayMs: number) => void;
}): LoopGuard {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let limit = options.max();
  let delayMs = 0;
  const timer = setInterval(() => {
    delayMs = histogram.count > 0 ? Math.max(0, histogram.percentile(99) / 1e6 - RESOLUTION_MS) : 0;
    histogram.reset();
    const next = decideLoopLimit({ limit, max: options.max(), delayMs, targetMs: options.targetMs });
    if (next === limit) return;
    limit = next;
    options.onChange(limit, delayMs);
  }, options.intervalMs);
  timer.unref();
  return {
    get limit() {
      return limit;
    },
    get delayMs() {
      return delayMs;
    },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
