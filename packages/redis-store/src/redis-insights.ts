import { randomUUID } from 'node:crypto';
import {
  type BatchStatus,
  MAX_SEARCH_MATCHES,
  type MetricBucket,
  type StageSpan,
  TASK_SORT_FIELDS,
  type TaskInsights,
  type TaskPatch,
  type TaskRecord,
} from '@ncr-upload/core';
import {
  BUCKET_MS,
  BUCKET_RETENTION_MS,
  bucketFromHash,
  bucketStart,
  durationSlot,
  expandStageSpans,
  normalizeTaskQuery,
  searchValues,
  sortScores,
  textScore,
} from '@ncr-upload/core/internal';
import { insightScripts } from './insight-scripts.js';
import type { RedisClient } from './redis-client.js';
import { createRedisWorkers } from './redis-workers.js';

export interface RedisInsights {
  /**
   * The console values of a new task, passed to the store's create script
   * (insightsOfCreate in insight-scripts.ts): the task and its console entries are one script call.
   */
  createArgs(record: TaskRecord): (string | number)[];
  /**
   * The console values of an update at `nowMs` (insightsOfHash in insight-scripts.ts):
   * the metric bucket keys and, when the patch sets the worker, its sort score.
   */
  updateArgs(nowMs: number, patch: TaskPatch): (string | number)[];
  /** List a new batch. */
  recordBatch(batch: { batch_id: string; created_at: string }): Promise<void>;
  /** The console capabilities, reading records and batches through the store. */
  capabilities(source: {
    getTask: (taskId: string) => Promise<TaskRecord | null>;
    getBatch: (batchId: string) => Promise<BatchStatus | null>;
  }): Required<TaskInsights>;
}

const ms = (iso: string | null) => {
  const value = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(value) ? value : Date.now();
};

/**
 * The console indexes of the Redis status store: sorted sets per sortable
 * column and per filter, a prefix index for search, per-task timelines, metric
 * buckets with a TTL, and the worker directory. Kept in step inside the
 * store's own script of each task write (insight-scripts.ts), so queries never
 * scan the tasks and a write is one script call.
 */
export function createRedisInsights(options: {
  client: RedisClient;
  /** The store's hash-tagged prefix, e.g. `{ncr}`. */
  prefix: string;
}): RedisInsights {
  const { client, prefix: p } = options;
  const bucketKey = (resolution: 'minute' | 'hour', start: number) => `${p}:cx:m:${resolution}:${start}`;

  return {
    createArgs(record) {
      const atMs = ms(record.updated_at);
      const duration =
        record.started_at && record.finished_at ? ms(record.finished_at) - ms(record.started_at) : -1;
      const scores = sortScores(record);
      return [
        record.stage ?? '',
        record.worker ?? '',
        record.updated_at,
        atMs,
        record.progress.files_done,
        record.progress.files_total,
        record.progress.bytes_done,
        record.progress.bytes_total,
        record.error?.code ?? '',
        record.error?.message ?? '',
        duration >= 0 ? durationSlot(duration) : -1,
        record.result?.size ?? 0,
        bucketKey('minute', bucketStart(atMs, 'minute')),
        bucketKey('hour', bucketStart(atMs, 'hour')),
        scores.created_at,
        JSON.stringify(searchValues(record)),
        ...TASK_SORT_FIELDS.map((field) => scores[field]),
      ];
    },

    updateArgs(nowMs, patch) {
      return [
        bucketKey('minute', bucketStart(nowMs, 'minute')),
        bucketKey('hour', bucketStart(nowMs, 'hour')),
        patch.worker === undefined ? '' : textScore(patch.worker),
      ];
    },

    async recordBatch(batch) {
      await client.zadd(`${p}:cx:batches`, ms(batch.created_at), batch.batch_id);
    },

    capabilities(source) {
      const readRecords = async (ids: string[]) =>
        (await Promise.all(ids.map((id) => source.getTask(id)))).filter(
          (record): record is TaskRecord => record !== null,
        );
      return {
        async queryTasks(query) {
          const q = normalizeTaskQuery(query);
          const reply = (await insightScripts.query(client, [
            p,
            q.sort,
            q.order,
            q.offset,
            q.limit,
            randomUUID(),
            q.from ?? '',
            q.to ?? '',
            q.worker ?? '',
            q.search ?? '',
            MAX_SEARCH_MATCHES,
            q.states.length,
            ...q.states,
          ])) as (number | string)[];
          const [total, ...ids] = reply;
          return { items: await readRecords(ids.map(String)), total: Number(total ?? 0) };
        },

        async taskTimeline(taskId) {
          const [closed, current, record] = await Promise.all([
            client.lrange(`${p}:cx:tl:${taskId}`, 0, -1),
            client.hgetall(`${p}:cx:last:${taskId}`),
            source.getTask(taskId),
          ]);
          // Progress ticks are not recorded (the store skips them): the open span shows the
          // task's live progress.
          const live = record?.progress;
          const atLeast = (stored: string | undefined, value: number | undefined) =>
            Math.max(Number(stored ?? 0), value ?? 0);
          const spans = closed.map((raw) => JSON.parse(raw) as StageSpan);
          if (current.state) {
            spans.push({
              attempt: Number(current.attempt ?? 0),
              state: current.state as StageSpan['state'],
              stage: (current.stage || null) as StageSpan['stage'],
              started_at: current.started_at ?? '',
              ended_at: null,
              worker: current.span_worker || null,
              files_done: atLeast(current.files_done, live?.files_done),
              files_total: atLeast(current.files_total, live?.files_total),
              bytes_done: atLeast(current.bytes_done, live?.bytes_done),
              bytes_total: atLeast(current.bytes_total, live?.bytes_total),
              error: current.err_code ? { code: current.err_code, message: current.err_msg ?? '' } : null,
            });
          }
          return expandStageSpans(spans, record?.stages);
        },

        async readMetrics({ from, to, resolution }) {
          const step = BUCKET_MS[resolution];
          const starts: number[] = [];
          for (let start = bucketStart(from, resolution); start <= to; start += step) starts.push(start);
          const pipeline = client.pipeline();
          for (const start of starts) pipeline.hgetall(bucketKey(resolution, start));
          const results = (await pipeline.exec()) ?? [];
          const buckets: MetricBucket[] = [];
          results.forEach(([error, hash], index) => {
            if (error) throw error;
            const fields = hash as Record<string, string>;
            if (Object.keys(fields).length > 0) buckets.push(bucketFromHash(starts[index] as number, fields));
          });
          return buckets;
        },

        async recordQueueDepth({ at, waiting, active }) {
          const pipeline = client.pipeline();
          for (const resolution of ['minute', 'hour'] as const) {
            const key = bucketKey(resolution, bucketStart(at, resolution));
            pipeline.hset(key, 'qw', waiting, 'qa', active);
            pipeline.pexpire(key, BUCKET_RETENTION_MS[resolution]);
          }
          await pipeline.exec();
        },

        async listBatches({ offset, limit }) {
          const key = `${p}:cx:batches`;
          const [ids, total] = await Promise.all([
            client.zrevrange(key, offset, offset + limit - 1),
            client.zcard(key),
          ]);
          const batches = await Promise.all(ids.map((id) => source.getBatch(id)));
          const gone = ids.filter((_, index) => batches[index] === null);
          // Batches past their retention: drop them from the list.
          if (gone.length > 0) await client.zrem(key, ...gone);
          return {
            items: batches.filter((batch): batch is BatchStatus => batch !== null),
            total: total - gone.length,
          };
        },

        ...createRedisWorkers({ client, prefix: p }),
      };
    },
  };
}
