import { STAGES, type Stage } from '../errors.js';
import {
  BUCKET_STATES,
  type BucketState,
  DURATION_BOUNDS_MS,
  type MetricBucket,
  type MetricResolution,
} from '../ports/task-insights.js';

/** Length of a bucket in ms. */
export const BUCKET_MS: Record<MetricResolution, number> = { minute: 60_000, hour: 3_600_000 };
/** How long buckets are kept: minutes for two days, hours for eight. */
export const BUCKET_RETENTION_MS: Record<MetricResolution, number> = {
  minute: 2 * 86_400_000,
  hour: 8 * 86_400_000,
};
/** Stages whose time is counted (the ones a running attempt passes through). */
export const TIMED_STAGES: readonly Stage[] = STAGES.filter(
  (stage) => stage !== 'admission' && stage !== 'queue',
);

export const bucketStart = (at: number, resolution: MetricResolution) =>
  Math.floor(at / BUCKET_MS[resolution]) * BUCKET_MS[resolution];

/** Index of a duration in the histogram of a bucket. */
export function durationSlot(durationMs: number): number {
  const index = DURATION_BOUNDS_MS.findIndex((bound) => durationMs <= bound);
  return index === -1 ? DURATION_BOUNDS_MS.length : index;
}

export function emptyBucket(start: number): MetricBucket {
  return {
    start,
    counts: Object.fromEntries(BUCKET_STATES.map((state) => [state, 0])) as MetricBucket['counts'],
    bytes: 0,
    durations: new Array<number>(DURATION_BOUNDS_MS.length + 1).fill(0),
    stage_ms: {},
    stage_count: {},
    queue_waiting: null,
    queue_active: null,
  };
}

/** Build a bucket from a flat hash (the Redis layout: `c:<state>`, `bytes`, `d<slot>`, `sm:<stage>`, `sn:<stage>`, `qw`, `qa`). */
export function bucketFromHash(start: number, hash: Record<string, string>): MetricBucket {
  const bucket = emptyBucket(start);
  for (const [field, raw] of Object.entries(hash)) {
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    if (field.startsWith('c:')) {
      const state = field.slice(2) as BucketState;
      if (BUCKET_STATES.includes(state)) bucket.counts[state] = value;
    } else if (field === 'bytes') bucket.bytes = value;
    else if (field.startsWith('d')) {
      const slot = Number(field.slice(1));
      if (Number.isInteger(slot) && slot >= 0 && slot < bucket.durations.length)
        bucket.durations[slot] = value;
    } else if (field.startsWith('sm:')) bucket.stage_ms[field.slice(3) as Stage] = value;
    else if (field.startsWith('sn:')) bucket.stage_count[field.slice(3) as Stage] = value;
    else if (field === 'qw') bucket.queue_waiting = value;
    else if (field === 'qa') bucket.queue_active = value;
  }
  return bucket;
}

/** The `p` quantile (0..1) of the durations counted in the histogram, interpolated in its slot; null when empty. */
export function durationQuantile(histogram: readonly number[], p: number): number | null {
  const total = histogram.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = p * total;
  let seen = 0;
  for (let slot = 0; slot < histogram.length; slot += 1) {
    const count = histogram[slot] ?? 0;
    if (count > 0 && seen + count >= rank) {
      const low = slot === 0 ? 0 : (DURATION_BOUNDS_MS[slot - 1] ?? 0);
      const high = DURATION_BOUNDS_MS[slot] ?? low * 2;
      return Math.round(low + (high - low) * Math.max(0, Math.min(1, (rank - seen) / count)));
    }
    seen += count;
  }
  return DURATION_BOUNDS_MS[DURATION_BOUNDS_MS.length - 1] ?? null;
}
