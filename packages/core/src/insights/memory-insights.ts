import type { BatchStatus, StageMark, TaskRecord } from '../job.js';
import { isTerminal } from '../job.js';
import {
  defaultWorkerControl,
  type MetricBucket,
  type MetricResolution,
  mergeWorkerControl,
  type StageSpan,
  type TaskInsights,
  type TaskPage,
  type TaskQuery,
  type WorkerControl,
  type WorkerHeartbeat,
  type WorkerView,
} from '../ports/task-insights.js';
import {
  BUCKET_MS,
  BUCKET_RETENTION_MS,
  bucketStart,
  durationSlot,
  emptyBucket,
  TIMED_STAGES,
} from './buckets.js';
import { expandStageSpans } from './stage-marks.js';
import { compareForQuery, matchesTaskQuery, normalizeTaskQuery, sortScores } from './task-sort.js';

/** Workers not seen for this long are dropped from the list. */
export const WORKER_FORGET_MS = 86_400_000;

const ms = (iso: string) => {
  const value = Date.parse(iso);
  return Number.isFinite(value) ? value : Date.now();
};

interface WorkerStats {
  processed: number;
  failed: number;
  last_task_id: string | null;
  last_task_at: string | null;
}

export interface MemoryInsights {
  /** Call after every write of a task, with the record as stored. */
  record(record: TaskRecord): void;
  /** Call when a task is removed (retention). */
  forget(taskId: string): void;
  /** Call when a batch is created. */
  recordBatch(batch: { batch_id: string; created_at: string }): void;
  forgetBatch(batchId: string): void;
  /** The `TaskInsights` methods, over the store's tasks and batches. */
  capabilities(source: {
    tasks: () => Iterable<TaskRecord>;
    getBatch: (batchId: string) => Promise<BatchStatus | null>;
    copy: (record: TaskRecord) => TaskRecord;
  }): Required<TaskInsights>;
}

/** The spans, buckets and worker directory of the in-memory store (the reference the Redis store mirrors). */
export function createMemoryInsights(options: { now: () => Date }): MemoryInsights {
  const timelines = new Map<string, StageSpan[]>();
  /** Each task's latest stage marks (the timeline shows stages no write recorded). */
  const marks = new Map<string, StageMark[]>();
  const buckets: Record<MetricResolution, Map<number, MetricBucket>> = { minute: new Map(), hour: new Map() };
  const workerStats = new Map<string, WorkerStats>();
  const workers = new Map<string, { heartbeat: WorkerHeartbeat; seen: number; expires: number }>();
  const controls = new Map<string, WorkerControl>();
  const batches = new Map<string, number>();

  function inBuckets(at: number, change: (bucket: MetricBucket) => void): void {
    for (const resolution of ['minute', 'hour'] as const) {
      const start = bucketStart(at, resolution);
      const map = buckets[resolution];
      let bucket = map.get(start);
      if (!bucket) {
        bucket = emptyBucket(start);
        map.set(start, bucket);
        const cutoff = at - BUCKET_RETENTION_MS[resolution];
        for (const key of map.keys()) if (key < cutoff) map.delete(key);
      }
      change(bucket);
    }
  }

  const statsOf = (worker: string) => {
    let stats = workerStats.get(worker);
    if (!stats) {
      stats = { processed: 0, failed: 0, last_task_id: null, last_task_at: null };
      workerStats.set(worker, stats);
    }
    return stats;
  };

  function record(task: TaskRecord): void {
    const at = task.updated_at;
    const atMs = ms(at);
    if (task.stages) marks.set(task.task_id, task.stages);
    const spans = timelines.get(task.task_id) ?? [];
    const last = spans[spans.length - 1];
    const progress = task.progress;
    const changed =
      !last || last.state !== task.state || last.stage !== task.stage || last.attempt !== task.attempts;
    if (!last) inBuckets(atMs, (bucket) => (bucket.counts.created += 1));
    if (last && !changed) {
      last.files_done = Math.max(last.files_done, progress.files_done);
      last.bytes_done = Math.max(last.bytes_done, progress.bytes_done);
      last.files_total = progress.files_total;
      last.bytes_total = progress.bytes_total;
      return;
    }
    if (last) {
      last.ended_at = at;
      const spent = atMs - ms(last.started_at);
      if (last.state === 'running' && last.stage && TIMED_STAGES.includes(last.stage)) {
        const stage = last.stage;
        inBuckets(atMs, (bucket) => {
          bucket.stage_ms[stage] = (bucket.stage_ms[stage] ?? 0) + Math.max(0, spent);
          bucket.stage_count[stage] = (bucket.stage_count[stage] ?? 0) + 1;
        });
      }
    }
    spans.push({
      attempt: task.attempts,
      state: task.state,
      stage: task.stage,
      started_at: at,
      ended_at: null,
      worker: task.worker,
      files_done: progress.files_done,
      files_total: progress.files_total,
      bytes_done: progress.bytes_done,
      bytes_total: progress.bytes_total,
      error: task.error ? { code: task.error.code, message: task.error.message } : null,
    });
    timelines.set(task.task_id, spans);
    const enteredRun =
      task.state === 'running' && (last?.state !== 'running' || last?.attempt !== task.attempts);
    if (enteredRun && task.worker) {
      const stats = statsOf(task.worker);
      stats.last_task_id = task.task_id;
      stats.last_task_at = at;
    }
    if (isTerminal(task.state) && (!last || !isTerminal(last.state))) {
      const state = task.state as 'succeeded' | 'failed' | 'rejected' | 'cancelled';
      const duration =
        task.started_at && task.finished_at ? ms(task.finished_at) - ms(task.started_at) : null;
      inBuckets(atMs, (bucket) => {
        bucket.counts[state] += 1;
        if (state === 'succeeded') bucket.bytes += task.result?.size ?? 0;
        if (duration !== null && duration >= 0) {
          const slot = durationSlot(duration);
          bucket.durations[slot] = (bucket.durations[slot] ?? 0) + 1;
        }
      });
      if (task.worker) {
        const stats = statsOf(task.worker);
        stats.processed += 1;
        if (state === 'failed') stats.failed += 1;
      }
    }
  }

  function controlOf(id: string): WorkerControl {
    return mergeWorkerControl(controls.get('*') ?? null, controls.get(id) ?? null);
  }

  return {
    record,
    forget: (taskId) => {
      timelines.delete(taskId);
      marks.delete(taskId);
    },
    recordBatch: (batch) => batches.set(batch.batch_id, ms(batch.created_at)),
    forgetBatch: (batchId) => batches.delete(batchId),
    capabilities(source) {
      return {
        async queryTasks(query: TaskQuery): Promise<TaskPage> {
          const normalized = normalizeTaskQuery(query);
          const rows = [];
          for (const task of source.tasks()) {
            if (matchesTaskQuery(task, normalized)) rows.push({ record: task, scores: sortScores(task) });
          }
          rows.sort(compareForQuery(normalized));
          const page = rows.slice(normalized.offset, normalized.offset + normalized.limit);
          return { items: page.map((row) => source.copy(row.record)), total: rows.length };
        },
        async taskTimeline(taskId) {
          return expandStageSpans(structuredClone(timelines.get(taskId) ?? []), marks.get(taskId));
        },
        async readMetrics({ from, to, resolution }) {
          return [...buckets[resolution].values()]
            .filter((bucket) => bucket.start + BUCKET_MS[resolution] > from && bucket.start <= to)
            .sort((a, b) => a.start - b.start)
            .map((bucket) => structuredClone(bucket));
        },
        async recordQueueDepth({ at, waiting, active }) {
          inBuckets(at, (bucket) => {
            bucket.queue_waiting = waiting;
            bucket.queue_active = active;
          });
        },
        async listBatches({ offset, limit }) {
          const ids = [...batches.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
          const items: BatchStatus[] = [];
          for (const id of ids.slice(offset, offset + limit)) {
            const batch = await source.getBatch(id);
            if (batch) items.push(batch);
          }
          return { items, total: ids.length };
        },
        async reportWorker(heartbeat, { ttlMs }) {
          const seen = options.now().getTime();
          workers.set(heartbeat.id, { heartbeat: { ...heartbeat }, seen, expires: seen + ttlMs });
          return controlOf(heartbeat.id);
        },
        async listWorkers(): Promise<WorkerView[]> {
          const current = options.now().getTime();
          const views: WorkerView[] = [];
          for (const [id, entry] of workers) {
            if (entry.seen < current - WORKER_FORGET_MS) {
              workers.delete(id);
              continue;
            }
            const stats = workerStats.get(id);
            views.push({
              ...entry.heartbeat,
              seen_at: new Date(entry.seen).toISOString(),
              online: entry.expires >= current,
              processed: stats?.processed ?? 0,
              failed: stats?.failed ?? 0,
              last_task_id: stats?.last_task_id ?? null,
              last_task_at: stats?.last_task_at ?? null,
              control: controlOf(id),
            });
          }
          return views.sort((a, b) => Number(b.online) - Number(a.online) || a.id.localeCompare(b.id));
        },
        async controlWorkers(target, change) {
          const updatedAt = options.now().toISOString();
          const apply = (id: string) => {
            const next = { ...(controls.get(id) ?? defaultWorkerControl()), updated_at: updatedAt };
            if (change.paused !== undefined) next.paused = change.paused;
            if (change.concurrency !== undefined) next.concurrency = change.concurrency;
            if (change.stop !== undefined) next.stop = change.stop;
            controls.set(id, next);
          };
          if (target === '*') {
            // Every worker: per-worker values of the changed fields give way to this one.
            for (const [id, control] of controls) {
              if (id === '*') continue;
              if (change.paused !== undefined) control.paused = false;
              if (change.concurrency !== undefined) control.concurrency = null;
              if (change.stop !== undefined) control.stop = false;
            }
          }
          apply(target);
          return target === '*' ? { ...(controls.get('*') as WorkerControl) } : controlOf(target);
        },
        async removeWorker(workerId) {
          workers.delete(workerId);
          controls.delete(workerId);
        },
      };
    },
  };
}
