import { randomUUID } from 'node:crypto';
import {
  ACTIVE_STATES,
  type BatchStatus,
  type CreateTaskResult,
  emptyCounts,
  isTerminal,
  notifyListeners,
  type StatusStore,
  TASK_STATES,
  type TaskEvent,
  type TaskFilter,
  type TaskPatch,
  type TaskRecord,
  toTaskEvent,
  UploadError,
  writablePatch,
} from '@ncr-upload/core';
import { Redis } from 'ioredis';
import { endClient, type RedisClient } from './redis-client.js';
import { createRedisInsights } from './redis-insights.js';
import { type RedisStatusStoreOptions, resolveStoreSettings } from './redis-status-store-options.js';
import { createStatusEventChannel } from './status-events.js';
import { statusScripts } from './status-scripts.js';
import { registerTaskCreation } from './task-creation.js';
import { activeJobKey, decodeTask, encodeFields } from './task-hash.js';
import { filterIndex, scanIndex, type TaskReader } from './task-index-scan.js';

/** A done batch is kept this much longer than its retention (task records stay until swept). */
const GRACE_MS = 60 * 60 * 1000;
const DEFAULT_LIMIT = 100;

/** A count followed by the values, for a script that takes a variable-length group of arguments. */
const withCount = (values: (string | number)[]) => [values.length, ...values];

/** Sorted-set score: created time in ms, then a per-ms sequence (insertion order breaks ties). */
function scoreOf(createdAt: string, sequence: number): number {
  const ms = Date.parse(createdAt);
  return (Number.isFinite(ms) ? ms : Date.now()) * 1000 + (sequence % 1000);
}

/**
 * A `StatusStore` on Redis, shared by every API and worker process of a
 * deployment. Every write is one round trip: a Lua script that changes the
 * record, its indexes and its batches' counts and publishes the event, atomically.
 *
 * Keys (all under the hash-tagged prefix `{ncr}`, so one cluster slot):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `{ncr}:task:<task_id>` | hash | the record, one field per record field (see task-hash.ts), plus `_username`, `_campaign`, `_score` (created ms × 1000 + sequence), `_jobkey` and `_nobatch` (`1` until the task joins a batch: its updates skip reading `task-batches`) |
 * | `{ncr}:job:["<campaign>","<username>","<job_id>"]` | string | the task id holding that job while it is active (idempotency) |
 * | `{ncr}:tasks` | zset | every task id, by `_score` |
 * | `{ncr}:active` | zset | queued, running and retrying task ids, by `_score` |
 * | `{ncr}:finished` | zset | finished task ids, by the time their retention ends (ms); swept 20 at a time by every create and every write that finishes a task |
 * | `{ncr}:idx:username:<u>`, `:idx:campaign:<c>`, `:idx:state:<s>`, `:idx:job:<job_id>` | zset | filter indexes, by `_score` |
 * | `{ncr}:batch:<batch_id>` | hash | `task_ids` (JSON), `total`, `completed`, `count:<state>`, `created_at`, `updated_at` |
 * | `{ncr}:task-batches:<task_id>` | hash | batch id → how many times the task is in it |
 * | `{ncr}:events` | channel | `{"origin":"<uuid>","event":{...}}` per change (origin, first: the writing store instance) |
 */
export function createRedisStatusStore(options: RedisStatusStoreOptions): StatusStore {
  const { retentionMs, p } = resolveStoreSettings(options);
  const ownsClient = !options.client;
  const client: RedisClient = options.client ?? new Redis(options.url as string, { lazyConnect: true });
  // Our own client reconnects by itself; commands report failures to their callers.
  if (ownsClient) client.on('error', () => undefined);
  const origin = randomUUID();
  const listeners = new Set<(event: TaskEvent) => void>();
  let sequence = 0;
  let closed = false;
  /** Tasks whose terminal write from here failed without a reply: it may have been written. */
  const unconfirmedTerminal = new Set<string>();

  const taskKey = (id: string) => `${p}:task:${id}`;
  // Console indexes (task queries, timelines, metric buckets, workers): redis-insights.ts.
  const insights = createRedisInsights({ client, prefix: p });

  const dispatch = (event: TaskEvent) => notifyListeners(listeners, event);

  const events = createStatusEventChannel({
    client,
    subscriber: options.subscriber,
    channel: `${p}:events`,
    origin,
    listeners,
    dispatch,
  });
  const reader: TaskReader = { client, taskKey };

  /** The update script (status-scripts.ts) on one task, now; `tail` is the patch part of its arguments. */
  const runUpdate = (taskId: string, patch: TaskPatch, tail: (string | number)[]) => {
    const nowMs = Date.now();
    return statusScripts.updateTask(client, [
      p,
      taskId,
      nowMs,
      retentionMs,
      GRACE_MS,
      origin,
      new Date(nowMs).toISOString(),
      ...insights.updateArgs(nowMs, patch),
      ...tail,
    ]);
  };

  /** The create script's arguments for `record`, and its reply read as `createTask`'s result (also sent by the BullMQ queue beside its add: task-creation.ts). */
  const prepareCreate = (record: TaskRecord) => {
    const { set } = encodeFields(record);
    const args = [
      p,
      record.task_id,
      activeJobKey(p, record.job),
      record.state,
      scoreOf(record.created_at, sequence++),
      Date.now(),
      retentionMs,
      origin,
      record.job.username,
      record.job.campaign,
      record.job_id,
      record.attempts,
      ...withCount(insights.createArgs(record)),
      ...set,
      'updated_at',
      record.updated_at,
    ];
    const settle = (reply: unknown): CreateTaskResult => {
      const [status, existing] = reply as [number, string[]?];
      if (status === 2) {
        throw new UploadError('INVALID_STATE', `A task with id ${record.task_id} already exists.`, {
          stage: 'admission',
        });
      }
      if (status === 0) {
        const stored = decodeTask(existing ?? []);
        if (stored) return { record: stored, created: false };
      }
      dispatch(toTaskEvent('task.created', record));
      return { record: structuredClone(record), created: true };
    };
    return { args, settle };
  };

  const store: StatusStore = {
    async createTask(record: TaskRecord): Promise<CreateTaskResult> {
      const { args, settle } = prepareCreate(record);
      return settle(await statusScripts.createTask(client, args));
    },

    async getTask(taskId: string): Promise<TaskRecord | null> {
      return decodeTask(await client.hgetall(taskKey(taskId)));
    },

    async updateTask(taskId: string, patch: TaskPatch): Promise<TaskRecord | null> {
      const writable = writablePatch(patch);
      const { set, remove } = encodeFields(writable);
      const terminal = writable.state !== undefined && isTerminal(writable.state);
      let reply: [number, string[]?, number?];
      try {
        reply = await runUpdate(taskId, writable, [set.length / 2, ...set, ...remove]);
      } catch (error) {
        // The write may have happened with its reply lost: a retry that finds it done delivers its event here.
        if (terminal) unconfirmedTerminal.add(taskId);
        throw error;
      }
      const [status, hash, mine] = reply;
      const unconfirmed = unconfirmedTerminal.delete(taskId);
      const record = status === 1 || status === 2 ? decodeTask(hash ?? []) : null;
      if (!record) return null;
      // Status 2: this terminal write was done already. Its event went out with it (other processes
      // got it over pub/sub); only when this instance wrote it and never saw the reply is it due here.
      if (status === 1 || (status === 2 && mine === 1 && unconfirmed)) {
        dispatch(toTaskEvent('task.updated', record));
      }
      return record;
    },

    async startAttempt(taskId, start) {
      // The update script in its start mode (setCount -1): the checks and the write are one script call.
      const [status, hash] = await runUpdate(taskId, { worker: start.worker }, [-1, start.worker]);
      const record = status === -1 ? null : decodeTask(hash ?? []);
      if (!record) return null;
      if (status === 1) dispatch(toTaskEvent('task.updated', record));
      return { record, started: status === 1 || status === 3 };
    },

    async findActiveByJob(job): Promise<TaskRecord | null> {
      const taskId = await client.get(activeJobKey(p, job));
      if (taskId === null) return null;
      const record = decodeTask(await client.hgetall(taskKey(taskId)));
      return record && ACTIVE_STATES.has(record.state) ? record : null;
    },

    async listActive(): Promise<TaskRecord[]> {
      return scanIndex(reader, `${p}:active`, () => true, Number.POSITIVE_INFINITY, false);
    },

    async listTasks(filter: TaskFilter = {}): Promise<TaskRecord[]> {
      const limit = filter.limit ?? DEFAULT_LIMIT;
      if (limit <= 0) return [];
      const { key, matches } = filterIndex(p, filter);
      return scanIndex(reader, key, matches, limit, true);
    },

    async createBatch(batch: { batch_id: string; task_ids: string[]; created_at: string }): Promise<void> {
      const [status, missing] = await statusScripts.createBatch(client, [
        p,
        batch.batch_id,
        batch.created_at,
        JSON.stringify(batch.task_ids),
        retentionMs,
        GRACE_MS,
        ...batch.task_ids,
      ]);
      if (status !== 1) {
        throw new UploadError(
          'NOT_FOUND',
          `Batch ${batch.batch_id} names an unknown task id: ${String(missing)}.`,
          {
            stage: 'admission',
          },
        );
      }
      await insights.recordBatch(batch);
    },

    async getBatch(batchId: string): Promise<BatchStatus | null> {
      const hash = await client.hgetall(`${p}:batch:${batchId}`);
      if (!hash.task_ids || !hash.created_at) return null;
      const counts = emptyCounts();
      for (const state of TASK_STATES) counts[state] = Math.max(0, Number(hash[`count:${state}`] ?? 0));
      const total = Number(hash.total ?? 0);
      const completed = Number(hash.completed ?? 0);
      return {
        batch_id: batchId,
        total,
        counts,
        completed,
        percent: total === 0 ? 100 : Math.round((completed / total) * 10000) / 100,
        done: completed === total,
        task_ids: JSON.parse(hash.task_ids) as string[],
        created_at: hash.created_at,
        updated_at: hash.updated_at ?? hash.created_at,
      };
    },

    subscribe(listener: (event: TaskEvent) => void): () => void {
      if (closed) throw new UploadError('INVALID_STATE', 'The status store is closed.');
      listeners.add(listener);
      events.listen();
      return () => {
        listeners.delete(listener);
      };
    },

    async ping(): Promise<void> {
      await client.ping();
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      listeners.clear();
      await events.close();
      if (ownsClient) await endClient(client);
    },
  };
  registerTaskCreation(store, { client, prepare: prepareCreate });
  return Object.assign(
    store,
    insights.capabilities({ getTask: (id) => store.getTask(id), getBatch: (id) => store.getBatch(id) }),
  );
}
