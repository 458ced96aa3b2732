import type { MemorySnapshot } from '@ncr-upload/core';

/** Why the runner takes fewer jobs than its maximum, for `stats()` and events. */
export interface ThrottleState {
  /** True while the queue is paused because memory is above the threshold. */
  paused: boolean;
  /** Jobs run at once right now, between 1 and the maximum. */
  concurrency: number;
  /** A sentence a person can act on; null when running at full speed. */
  reason: string | null;
  /** Measured (or estimated) memory one running job needs, in bytes; null before any measurement. */
  memory_per_job: number | null;
  system_percent: number;
  max_memory_percent: number;
}

export interface AdmissionInput {
  snapshot: MemorySnapshot;
  maxConcurrency: number;
  /** Jobs running now. */
  active: number;
  /** Memory the running jobs use above the idle baseline, in bytes (null when unknown). */
  jobsMemory: number | null;
  /** The last measured per-job memory, kept between measurements. */
  previousPerJob: number | null;
  /** The queue is paused now (by the previous decision). Default false. */
  paused?: boolean;
  /** Once paused, resume only at or below the threshold minus this many points (hysteresis). Default 0. */
  resumeMarginPercent?: number;
}

const MB = 1024 * 1024;
const format = (bytes: number) => `${Math.round(bytes / MB)} MB`;

/**
 * Decide pause/resume and concurrency from one memory reading:
 *
 * - above the threshold: pause (no new jobs), concurrency 1; once paused, stay
 *   paused until memory is at or below the threshold minus the resume margin;
 * - otherwise, with a measured memory per job: as many jobs as fit in the
 *   headroom below the threshold (the running ones included), between 1 and the maximum;
 * - before any measurement: the monitor's recommended concurrency.
 */
export function decideAdmission(input: AdmissionInput): ThrottleState {
  const { snapshot, maxConcurrency, active } = input;
  const percent = snapshot.system.percent;
  const threshold = snapshot.max_memory_percent;
  let perJob = input.previousPerJob;
  if (input.jobsMemory !== null && active > 0) {
    const measured = Math.max(0, input.jobsMemory) / active;
    perJob = perJob === null ? measured : Math.round(perJob * 0.5 + measured * 0.5);
  }
  const base = { memory_per_job: perJob, system_percent: percent, max_memory_percent: threshold };
  const resumeAt = threshold - (input.resumeMarginPercent ?? 0);
  if (percent > threshold || (input.paused && percent > resumeAt)) {
    return {
      ...base,
      paused: true,
      concurrency: 1,
      reason:
        percent > threshold
          ? `system memory at ${percent}% is above MAX_MEMORY_USAGE_PERCENT ${threshold}%: no new jobs are taken until it falls below`
          : `system memory at ${percent}% is not yet at or below ${resumeAt}% (MAX_MEMORY_USAGE_PERCENT ${threshold}% minus the resume margin): still no new jobs`,
    };
  }
  let concurrency: number;
  let reason: string | null = null;
  if (perJob !== null && perJob > 0) {
    const headroom = (snapshot.system.total * threshold) / 100 - snapshot.system.used;
    const fits = active + Math.floor(Math.max(0, headroom) / perJob);
    concurrency = Math.max(1, Math.min(maxConcurrency, fits));
    if (concurrency < maxConcurrency) {
      reason = `about ${format(perJob)} per job and ${format(Math.max(0, headroom))} left below ${threshold}%: ${concurrency} of ${maxConcurrency} jobs at once`;
    }
  } else {
    concurrency = Math.max(1, Math.min(maxConcurrency, snapshot.recommended_concurrency));
    if (concurrency < maxConcurrency) {
      reason = `system memory at ${percent}% (threshold ${threshold}%): ${concurrency} of ${maxConcurrency} jobs at once`;
    }
  }
  return { ...base, paused: false, concurrency, reason };
}
