import { UploadError } from './errors.js';
import { createMemoryInsights } from './insights/memory-insights.js';
import {
  ACTIVE_STATES,
  aggregateBatch,
  type BatchStatus,
  isTerminal,
  type TaskPatch,
  type TaskRecord,
  writablePatch,
} from './job.js';
import type { CreateTaskResult, JobKey, StatusStore, TaskEvent, TaskFilter } from './ports/status-store.js';
import { notifyListeners, toTaskEvent } from './task-events.js';

export interface MemoryStatusStoreOptions {
  /**
   * How long a finished task (succeeded, failed, rejected, cancelled) is kept
   * after it finished, in milliseconds. Tasks of a batch are removed together
   * with the batch once all of them have expired. Default 86_400_000 (one day).
   */
  retentionMs?: number;
  /** The clock, for tests. Default `() => new Date()`. */
  now?: () => Date;
}

interface StoredTask {
  record: TaskRecord;
  /** Insertion order: breaks ties between equal `created_at`. */
  sequence: number;
  /** When the task entered a terminal state (ms since epoch), null while active. */
  finishedAtMs: number | null;
}

interface StoredBatch {
  batch_id: string;
  task_ids: string[];
  created_at: string;
}

const DEFAULT_LIMIT = 100;
const DEFAULT_RETENTION_MS = 86_400_000;

const isActive = (record: TaskRecord) => ACTIVE_STATES.has(record.state);

/** One active task per (campaign, username, job_id): names never hold NUL, so it separates them. */
const jobKeyOf = (job: JobKey) => `${job.campaign}\0${job.username}\0${job.job_id}`;

/** A copy deep enough that a caller can never change a stored record (cheaper than structuredClone). */
function copy(record: TaskRecord): TaskRecord {
  return {
    ...record,
    job: { ...record.job },
    progress: { ...record.progress },
    error: record.error && copyError(record.error),
    result: record.result && { ...record.result },
    ...(record.stages ? { stages: record.stages.map((mark) => ({ ...mark })) } : {}),
  };
}

function copyError(error: NonNullable<TaskRecord['error']>): NonNullable<TaskRecord['error']> {
  return error.details === undefined ? { ...error } : structuredClone(error);
}

/** The patch with its objects copied, so the caller keeps no handle on what is stored. */
function copyPatch(patch: TaskPatch): TaskPatch {
  const copied: TaskPatch = { ...patch };
  if (patch.progress) copied.progress = { ...patch.progress };
  if (patch.error) copied.error = copyError(patch.error);
  if (patch.result) copied.result = { ...patch.result };
  if (patch.stages) copied.stages = patch.stages.map((mark) => ({ ...mark }));
  return copied;
}

/**
 * A status store that keeps everything in this process's memory: the default
 * for a single process, and the reference implementation of `StatusStore`.
 *
 * Every method works on copies, so callers can never change a stored record by
 * accident (shallow copies of the record and its objects, no serialising). Finished tasks are purged lazily (on writes) once older than
 * `retentionMs`; no timer keeps the process alive.
 */
export function createMemoryStatusStore(options: MemoryStatusStoreOptions = {}): StatusStore {
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  if (!Number.isFinite(retentionMs) || retentionMs < 0) {
    throw new UploadError(
      'CONFIG_INVALID',
      `retentionMs must be a non-negative number, got ${String(retentionMs)}.`,
    );
  }
  const now = options.now ?? (() => new Date());

  const tasks = new Map<string, StoredTask>();
  /** jobKeyOf(job) → the task id holding that job while it is active. */
  const activeByJob = new Map<string, string>();
  const batches = new Map<string, StoredBatch>();
  /** Finished task ids with the time they finished, roughly oldest first (re-inserted when they finish again). */
  const finished = new Map<string, number>();
  const listeners = new Set<(event: TaskEvent) => void>();
  let sequence = 0;
  // Console capabilities (task queries, timelines, metric buckets, workers): insights/memory-insights.ts.
  const insights = createMemoryInsights({ now });

  const emit = (event: TaskEvent) => notifyListeners(listeners, event);

  function trackState(stored: StoredTask): void {
    const { record } = stored;
    if (isActive(record)) {
      stored.finishedAtMs = null;
      finished.delete(record.task_id);
      const key = jobKeyOf(record.job);
      if (!activeByJob.has(key)) activeByJob.set(key, record.task_id);
      return;
    }
    const key = jobKeyOf(record.job);
    if (activeByJob.get(key) === record.task_id) activeByJob.delete(key);
    if (stored.finishedAtMs === null) {
      stored.finishedAtMs = now().getTime();
      finished.set(record.task_id, stored.finishedAtMs);
    }
  }

  function deleteTask(taskId: string): void {
    const stored = tasks.get(taskId);
    finished.delete(taskId);
    if (!stored) return;
    tasks.delete(taskId);
    insights.forget(taskId);
    const key = jobKeyOf(stored.record.job);
    if (activeByJob.get(key) === taskId) activeByJob.delete(key);
  }

  function purge(): void {
    const cutoff = now().getTime() - retentionMs;
    for (const [taskId, finishedAt] of finished) {
      if (finishedAt > cutoff) break;
      finished.delete(taskId);
      const stored = tasks.get(taskId);
      if (!stored) continue;
      const batch = stored.record.batch_id ? batches.get(stored.record.batch_id) : undefined;
      if (!batch) {
        deleteTask(taskId);
        continue;
      }
      // Tasks of a batch go together, once every one of them has expired.
      const allExpired = batch.task_ids.every((id) => {
        const member = tasks.get(id);
        return !member || (member.finishedAtMs !== null && member.finishedAtMs <= cutoff);
      });
      if (allExpired) {
        for (const id of batch.task_ids) deleteTask(id);
        batches.delete(batch.batch_id);
        insights.forgetBatch(batch.batch_id);
      }
    }
  }

  function batchStatus(batch: StoredBatch): BatchStatus {
    const states: TaskRecord['state'][] = [];
    let updatedAt = batch.created_at;
    for (const id of batch.task_ids) {
      const stored = tasks.get(id);
      if (!stored) continue;
      states.push(stored.record.state);
      if (stored.record.updated_at > updatedAt) updatedAt = stored.record.updated_at;
    }
    return aggregateBatch(batch, states, updatedAt);
  }

  const byNewest = (a: StoredTask, b: StoredTask) =>
    a.record.created_at === b.record.created_at
      ? b.sequence - a.sequence
      : a.record.created_at < b.record.created_at
        ? 1
        : -1;

  const store: StatusStore = {
    async createTask(record: TaskRecord): Promise<CreateTaskResult> {
      purge();
      // No await between the check and the write: atomic within this process.
      const existingId = isActive(record) ? activeByJob.get(jobKeyOf(record.job)) : undefined;
      const existing = existingId ? tasks.get(existingId) : undefined;
      if (existing) return { record: copy(existing.record), created: false };
      if (tasks.has(record.task_id)) {
        throw new UploadError('INVALID_STATE', `A task with id ${record.task_id} already exists.`, {
          stage: 'admission',
        });
      }
      const stored: StoredTask = { record: copy(record), sequence: sequence++, finishedAtMs: null };
      tasks.set(record.task_id, stored);
      trackState(stored);
      insights.record(stored.record);
      emit(toTaskEvent('task.created', stored.record));
      return { record: copy(stored.record), created: true };
    },

    async getTask(taskId: string): Promise<TaskRecord | null> {
      const stored = tasks.get(taskId);
      return stored ? copy(stored.record) : null;
    },

    async updateTask(taskId: string, patch: TaskPatch): Promise<TaskRecord | null> {
      purge();
      const stored = tasks.get(taskId);
      if (!stored) return null;
      const allowed = writablePatch(patch);
      // updated_at never moves backwards, even if the clock does.
      let updatedAt = now().toISOString();
      if (updatedAt < stored.record.updated_at) updatedAt = stored.record.updated_at;
      const next: TaskRecord = { ...stored.record, ...copyPatch(allowed), updated_at: updatedAt };
      stored.record = next;
      trackState(stored);
      insights.record(next);
      emit(toTaskEvent('task.updated', next));
      return copy(next);
    },

    async startAttempt(taskId, start) {
      purge();
      const current = tasks.get(taskId)?.record;
      if (!current) return null;
      if (isTerminal(current.state) || current.cancel_requested)
        return { record: copy(current), started: false };
      if (current.state === 'running' && current.worker === start.worker) {
        return { record: copy(current), started: true };
      }
      const record = await store.updateTask(taskId, {
        state: 'running',
        stage: 'resolve',
        attempts: current.attempts + 1,
        started_at: current.started_at ?? now().toISOString(),
        worker: start.worker,
        error: null,
      });
      return record ? { record, started: true } : null;
    },

    async findActiveByJob(job: JobKey): Promise<TaskRecord | null> {
      const taskId = activeByJob.get(jobKeyOf(job));
      const stored = taskId ? tasks.get(taskId) : undefined;
      return stored ? copy(stored.record) : null;
    },

    async listActive(): Promise<TaskRecord[]> {
      return [...tasks.values()]
        .filter((stored) => isActive(stored.record))
        .sort((a, b) => byNewest(b, a))
        .map((stored) => copy(stored.record));
    },

    async listTasks(filter: TaskFilter = {}): Promise<TaskRecord[]> {
      const limit = filter.limit ?? DEFAULT_LIMIT;
      if (limit <= 0) return [];
      return [...tasks.values()]
        .filter(({ record }) => {
          if (filter.job_id !== undefined && record.job_id !== filter.job_id) return false;
          if (filter.username !== undefined && record.job.username !== filter.username) return false;
          if (filter.campaign !== undefined && record.job.campaign !== filter.campaign) return false;
          if (filter.state !== undefined && record.state !== filter.state) return false;
          return true;
        })
        .sort(byNewest)
        .slice(0, limit)
        .map((stored) => copy(stored.record));
    },

    async createBatch(batch: { batch_id: string; task_ids: string[]; created_at: string }): Promise<void> {
      purge();
      const missing = batch.task_ids.filter((id) => !tasks.has(id));
      if (missing.length > 0) {
        throw new UploadError(
          'NOT_FOUND',
          `Batch ${batch.batch_id} names unknown task ids: ${missing.join(', ')}.`,
          {
            stage: 'admission',
          },
        );
      }
      batches.set(batch.batch_id, {
        batch_id: batch.batch_id,
        task_ids: [...batch.task_ids],
        created_at: batch.created_at,
      });
      insights.recordBatch(batch);
    },

    async getBatch(batchId: string): Promise<BatchStatus | null> {
      const batch = batches.get(batchId);
      return batch ? batchStatus(batch) : null;
    },

    subscribe(listener: (event: TaskEvent) => void): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    async ping(): Promise<void> {},

    async close(): Promise<void> {
      listeners.clear();
    },
  };
  return Object.assign(
    store,
    insights.capabilities({
      tasks: () => [...tasks.values()].map((stored) => stored.record),
      getBatch: (batchId) => store.getBatch(batchId),
      copy,
    }),
  );
}
