import { DURATION_BOUNDS_MS, type MetricBucket, type MetricResolution, type Stage } from '@ncr-upload/core';
import { BUCKET_MS, durationQuantile, TIMED_STAGES } from '@ncr-upload/core/internal';

export type MonitorRange = '1h' | '24h' | '7d';

/** Per range: the bucket resolution read and the step of one point (ms). */
const RANGES: Record<MonitorRange, { span: number; resolution: MetricResolution; step: number }> = {
  '1h': { span: 3_600_000, resolution: 'minute', step: 60_000 },
  '24h': { span: 86_400_000, resolution: 'minute', step: 600_000 },
  '7d': { span: 7 * 86_400_000, resolution: 'hour', step: 3_600_000 },
};

export const monitorWindow = (range: MonitorRange, now = Date.now()) => {
  const { span, resolution, step } = RANGES[range];
  const to = Math.floor(now / BUCKET_MS[resolution]) * BUCKET_MS[resolution];
  return { from: to - span + BUCKET_MS[resolution], to, resolution, step };
};

const emptyHistogram = () => new Array<number>(DURATION_BOUNDS_MS.length + 1).fill(0);

/**
 * Turn metric buckets into the points of the monitor graphs: succeeded and
 * failed (with rejected) per minute, bytes per second, the last queue depth,
 * p50 and p95 duration per point, plus totals and time per stage over the range.
 */
export function monitorSeries(range: MonitorRange, buckets: MetricBucket[], now = Date.now()) {
  const { from, to, step } = monitorWindow(range, now);
  const first = Math.floor(from / step) * step;
  const slots = Math.floor((to - first) / step) + 1;
  const points = Array.from({ length: slots }, (_, index) => ({
    start: first + index * step,
    succeeded: 0,
    failed: 0,
    bytes: 0,
    waiting: null as number | null,
    active: null as number | null,
    histogram: emptyHistogram(),
  }));
  const totals = { created: 0, succeeded: 0, failed: 0, rejected: 0, cancelled: 0, bytes: 0 };
  const all = emptyHistogram();
  const stageMs = new Map<Stage, { total: number; count: number }>();
  for (const bucket of buckets) {
    const point = points[Math.floor((bucket.start - first) / step)];
    if (!point) continue;
    point.succeeded += bucket.counts.succeeded;
    point.failed += bucket.counts.failed + bucket.counts.rejected;
    point.bytes += bucket.bytes;
    if (bucket.queue_waiting !== null) point.waiting = bucket.queue_waiting;
    if (bucket.queue_active !== null) point.active = bucket.queue_active;
    bucket.durations.forEach((count, slot) => {
      point.histogram[slot] = (point.histogram[slot] ?? 0) + count;
      all[slot] = (all[slot] ?? 0) + count;
    });
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) {
      totals[key] += key === 'bytes' ? bucket.bytes : bucket.counts[key];
    }
    for (const stage of TIMED_STAGES) {
      const count = bucket.stage_count[stage] ?? 0;
      if (count === 0) continue;
      const entry = stageMs.get(stage) ?? { total: 0, count: 0 };
      entry.total += bucket.stage_ms[stage] ?? 0;
      entry.count += count;
      stageMs.set(stage, entry);
    }
  }
  const minutes = step / 60_000;
  return {
    range,
    step_seconds: step / 1000,
    from: new Date(first).toISOString(),
    to: new Date(to).toISOString(),
    points: points.map((point) => ({
      at: new Date(point.start).toISOString(),
      succeeded: Math.round((point.succeeded / minutes) * 100) / 100,
      failed: Math.round((point.failed / minutes) * 100) / 100,
      bytes_per_second: Math.round(point.bytes / (step / 1000)),
      queue_waiting: point.waiting,
      queue_active: point.active,
      p50_ms: durationQuantile(point.histogram, 0.5),
      p95_ms: durationQuantile(point.histogram, 0.95),
    })),
    totals: { ...totals, p50_ms: durationQuantile(all, 0.5), p95_ms: durationQuantile(all, 0.95) },
    stages: TIMED_STAGES.filter((stage) => stageMs.has(stage)).map((stage) => {
      const entry = stageMs.get(stage) as { total: number; count: number };
      return {
        stage,
        total_ms: entry.total,
        count: entry.count,
        mean_ms: Math.round(entry.total / entry.count),
      };
    }),
  };
}
