import { type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** The delay timer's period, in ms: the histogram records it plus the delay, so it is subtracted. */
const RESOLUTION_MS = 5;
/**
 * Share of the window the loop must have been busy (event-loop utilization) for a
 * delay to count: on a busy host the scheduler delays an idle loop too (5–15 ms
 * measured), and fewer jobs would not help that.
 */
export const BUSY_SHARE = 0.5;

/**
 * The next limit of jobs at once from one window's event-loop delay and
 * utilization, additive increase, multiplicative decrease: late (above the
 * target) while busy (at least `BUSY_SHARE`), half (at least 1); otherwise one
 * more (at most `max`).
 */
export function decideLoopLimit(input: {
  limit: number;
  max: number;
  delayMs: number;
  /** Event-loop utilization of the window, 0 to 1. */
  busy: number;
  targetMs: number;
}): number {
  const { limit, max, delayMs, busy, targetMs } = input;
  if (delayMs > targetMs && busy >= BUSY_SHARE) return Math.max(1, Math.min(max, Math.floor(limit / 2)));
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
 * code) and utilization, and turn them into a limit of jobs at once, so jobs
 * running inline get a bounded share of a loop that also serves HTTP. Every
 * `intervalMs` the p99 delay of the window is compared with `targetMs` (see
 * `decideLoopLimit`);
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
  let utilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    delayMs = histogram.count > 0 ? Math.max(0, histogram.percentile(99) / 1e6 - RESOLUTION_MS) : 0;
    histogram.reset();
    const busy = performance.eventLoopUtilization(utilization).utilization;
    utilization = performance.eventLoopUtilization();
    const next = decideLoopLimit({ limit, max: options.max(), delayMs, busy, targetMs: options.targetMs });
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
