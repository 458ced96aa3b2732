import { describe, expect, it } from 'vitest';
import type { StatusStore } from '../ports/status-store.js';
import type { WorkerHeartbeat } from '../ports/task-insights.js';
import { makeJob, makeTask, uniqueId, waitFor } from './helpers.js';

type WithStore = (body: (store: StatusStore) => Promise<void>) => Promise<void>;

const at = (seconds: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, seconds)).toISOString();
const ms = (seconds: number) => Date.UTC(2024, 0, 1, 0, 0, seconds);

export const heartbeat = (id: string, overrides: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat => ({
  id,
  host: 'host-a',
  pid: 1234,
  started_at: new Date().toISOString(),
  concurrency: 4,
  concurrency_current: 4,
  active: 0,
  memory_rss: 50_000_000,
  memory_percent: 40,
  paused: false,
  pause_reason: null,
  draining: false,
  ...overrides,
});

/** The console capabilities section of the status store contract (`insights: true`). */
export function testTaskInsightsSection(withStore: WithStore): void {
  describe('console capabilities', () => {
    it('pages, sorts, filters and searches tasks by its indexes', () =>
      withStore(async (store) => {
        const campaign = uniqueId('Camp');
        const ids: string[] = [];
        for (let index = 0; index < 12; index += 1) {
          const task = makeTask({
            job: makeJob({ campaign, username: index % 3 === 0 ? `zed-${index}` : `amy-${index}` }),
            created_at: at(index),
            updated_at: at(index),
          });
          ids.push(task.task_id);
          await store.createTask(task);
        }
        // Task i: running on worker w1 (even) or w2 (odd) for i < 8; i < 4 finish with sizes.
        for (let index = 0; index < 8; index += 1) {
          const id = ids[index] as string;
          await store.updateTask(id, {
            state: 'running',
            stage: 'fetch',
            attempts: (index % 2) + 1,
            worker: index % 2 === 0 ? 'w1' : 'w2',
            started_at: at(100 + index),
          });
          if (index < 4) {
            await store.updateTask(id, {
              state: index === 3 ? 'failed' : 'succeeded',
              finished_at: at(100 + index + 10 * (index + 1)),
              result: { remote_path: 'x', size: 1000 - index, sha256: 'a', files: 1 },
            });
          }
        }
        const query = store.queryTasks!;
        const search = campaign.toUpperCase();
        const all = await query({ search, limit: 5 });
        expect(all.total).toBe(12);
        expect(all.items.map((task) => task.task_id)).toEqual([...ids].reverse().slice(0, 5));
        const second = await query({ search, limit: 5, offset: 5, order: 'asc' });
        expect(second.items.map((task) => task.task_id)).toEqual(ids.slice(5, 10));
        const running = await query({ search, states: ['running'] });
        expect(running.total).toBe(4);
        const ended = await query({ search, states: ['succeeded', 'failed'], sort: 'size', order: 'asc' });
        expect(ended.items.map((task) => task.task_id)).toEqual([ids[3], ids[2], ids[1], ids[0]]);
        const longest = await query({ search, sort: 'duration', limit: 1 });
        expect(longest.items[0]?.task_id).toBe(ids[3]);
        const onW2 = await query({ search, worker: 'w2', sort: 'attempts' });
        expect(onW2.total).toBe(4);
        expect(onW2.items.every((task) => task.worker === 'w2' && task.attempts === 2)).toBe(true);
        const window = await query({ search, from: ms(2), to: ms(5), order: 'asc' });
        expect(window.items.map((task) => task.task_id)).toEqual(ids.slice(2, 6));
        const zed = await query({ search: 'ZED-', states: ['queued'] });
        expect(zed.items.map((task) => task.job.username).sort()).toEqual(['zed-9']);
        const byUser = await query({ search, sort: 'username', order: 'asc', limit: 12 });
        expect(byUser.items.at(-1)?.job.username.startsWith('zed')).toBe(true);
        expect((await query({ search: uniqueId('nothing') })).total).toBe(0);
      }));

    it('keeps a timeline of every attempt, stage by stage, with bytes and errors', () =>
      withStore(async (store) => {
        const task = makeTask();
        await store.createTask(task);
        const id = task.task_id;
        const progress = { files_done: 1, files_total: 2, bytes_done: 10, bytes_total: 20, percent: 30 };
        await store.updateTask(id, { state: 'running', stage: 'resolve', attempts: 1, worker: 'w1' });
        await store.updateTask(id, { stage: 'fetch', progress });
        await store.updateTask(id, { stage: 'fetch', progress: { ...progress, bytes_done: 20 } });
        const error = { code: 'CONNECTION_ERROR' as const, message: 'refused <b>', retryable: true };
        await store.updateTask(id, { state: 'retrying', stage: 'queue', error });
        await store.updateTask(id, { state: 'running', stage: 'resolve', attempts: 2, error: null });
        await store.updateTask(id, {
          state: 'succeeded',
          stage: 'cleanup',
          finished_at: new Date().toISOString(),
          result: { remote_path: 'a.zip', size: 20, sha256: 'f', files: 2 },
        });
        const spans = await store.taskTimeline!(id);
        expect(spans.map((span) => [span.attempt, span.state, span.stage])).toEqual([
          [0, 'queued', 'queue'],
          [1, 'running', 'resolve'],
          [1, 'running', 'fetch'],
          [1, 'retrying', 'queue'],
          [2, 'running', 'resolve'],
          [2, 'succeeded', 'cleanup'],
        ]);
        expect(spans[2]).toMatchObject({ bytes_done: 20, bytes_total: 20, files_done: 1, worker: 'w1' });
        expect(spans[3]?.error).toEqual({ code: 'CONNECTION_ERROR', message: 'refused <b>' });
        expect(spans.slice(0, -1).every((span) => span.ended_at !== null)).toBe(true);
        expect(spans.at(-1)?.ended_at).toBeNull();
        expect(await store.taskTimeline!(uniqueId('missing'))).toEqual([]);
      }));

    it('shows the stages a short attempt passed through from its stage marks, though no write recorded them', () =>
      withStore(async (store) => {
        const task = makeTask();
        await store.createTask(task);
        const id = task.task_id;
        // Coalesced writes: `running` at the start, then only the end, which carries the marks.
        await store.updateTask(id, { state: 'running', stage: 'resolve', attempts: 1, worker: 'w1' });
        const stages = (['resolve', 'layout', 'fetch', 'archive', 'validate', 'deliver'] as const).map(
          (stage, index) => ({ attempt: 1, stage, at: at(index) }),
        );
        const progress = { files_done: 3, files_total: 3, bytes_done: 30, bytes_total: 30, percent: 100 };
        await store.updateTask(id, {
          state: 'succeeded',
          stage: 'cleanup',
          progress,
          stages,
          finished_at: at(9),
          result: { remote_path: 'a.zip', size: 30, sha256: 'f', files: 3 },
        });
        expect((await store.getTask(id))?.stages).toEqual(stages);
        const spans = await store.taskTimeline!(id);
        expect(spans.map((span) => [span.attempt, span.state, span.stage])).toEqual([
          [0, 'queued', 'queue'],
          ...stages.map((mark) => [1, 'running', mark.stage]),
          [1, 'succeeded', 'cleanup'],
        ]);
        const running = spans.filter((span) => span.state === 'running');
        expect(running.map((span) => span.started_at)).toEqual(stages.map((mark) => mark.at));
        // Each stage ends where the next began; the last where the attempt's span ended.
        expect(running.slice(0, -1).map((span) => span.ended_at)).toEqual(
          stages.slice(1).map((mark) => mark.at),
        );
        expect(running.at(-1)?.ended_at).toBe(spans.at(-1)?.started_at);
        expect(running.every((span) => span.worker === 'w1')).toBe(true);
      }));

    it('counts outcomes, bytes, durations and stage time in buckets; samples queue depth', () =>
      withStore(async (store) => {
        const from = Date.now() - 1000;
        const started = new Date().toISOString();
        for (const state of ['succeeded', 'failed'] as const) {
          const task = makeTask();
          await store.createTask(task);
          await store.updateTask(task.task_id, {
            state: 'running',
            stage: 'fetch',
            attempts: 1,
            started_at: started,
          });
          await store.updateTask(task.task_id, { stage: 'archive' });
          await store.updateTask(task.task_id, {
            state,
            finished_at: new Date().toISOString(),
            result: state === 'succeeded' ? { remote_path: 'r', size: 4096, sha256: 's', files: 1 } : null,
          });
        }
        await store.recordQueueDepth!({ at: Date.now(), waiting: 7, active: 2 });
        for (const resolution of ['minute', 'hour'] as const) {
          const buckets = await store.readMetrics!({ from, to: Date.now() + 1000, resolution });
          const sum = (pick: (bucket: (typeof buckets)[number]) => number) =>
            buckets.reduce((total, bucket) => total + pick(bucket), 0);
          expect(sum((bucket) => bucket.counts.created)).toBe(2);
          expect(sum((bucket) => bucket.counts.succeeded)).toBe(1);
          expect(sum((bucket) => bucket.counts.failed)).toBe(1);
          expect(sum((bucket) => bucket.bytes)).toBe(4096);
          expect(sum((bucket) => bucket.durations.reduce((a, b) => a + b, 0))).toBe(2);
          expect(sum((bucket) => bucket.stage_count.fetch ?? 0)).toBe(2);
          expect(buckets.at(-1)).toMatchObject({ queue_waiting: 7, queue_active: 2 });
        }
      }));

    it('lists batches newest first', () =>
      withStore(async (store) => {
        const created: string[] = [];
        for (let index = 0; index < 3; index += 1) {
          const task = makeTask();
          await store.createTask(task);
          const batchId = uniqueId('batch');
          await store.createBatch({ batch_id: batchId, task_ids: [task.task_id], created_at: at(index) });
          created.push(batchId);
        }
        const page = await store.listBatches!({ offset: 0, limit: 2 });
        expect(page.total).toBe(3);
        expect(page.items.map((batch) => batch.batch_id)).toEqual([created[2], created[1]]);
        expect(page.items[0]?.total).toBe(1);
      }));

    it('keeps a worker directory with figures, online state and controls', () =>
      withStore(async (store) => {
        const id = uniqueId('worker');
        const other = uniqueId('worker');
        expect(await store.reportWorker!(heartbeat(id), { ttlMs: 60_000 })).toMatchObject({
          paused: false,
          concurrency: null,
          stop: false,
        });
        await store.reportWorker!(heartbeat(other, { pid: 99 }), { ttlMs: 1 });
        for (const state of ['succeeded', 'failed'] as const) {
          const task = makeTask();
          await store.createTask(task);
          await store.updateTask(task.task_id, { state: 'running', attempts: 1, worker: id });
          await store.updateTask(task.task_id, { state, finished_at: new Date().toISOString() });
        }
        await waitFor(async () => (await store.listWorkers!()).find((w) => w.id === other)?.online === false);
        const workers = await store.listWorkers!();
        const mine = workers.find((worker) => worker.id === id);
        expect(mine).toMatchObject({ online: true, host: 'host-a', pid: 1234, processed: 2, failed: 1 });
        expect(mine?.last_task_id).toEqual(expect.any(String));
        expect(workers.findIndex((w) => w.id === id)).toBeLessThan(workers.findIndex((w) => w.id === other));

        await store.controlWorkers!(id, { paused: true, concurrency: 2 });
        expect(await store.reportWorker!(heartbeat(id), { ttlMs: 60_000 })).toMatchObject({
          paused: true,
          concurrency: 2,
        });
        await store.controlWorkers!('*', { paused: false });
        const resumed = await store.reportWorker!(heartbeat(id), { ttlMs: 60_000 });
        expect(resumed).toMatchObject({ paused: false, concurrency: 2 });
        await store.controlWorkers!('*', { paused: true });
        expect((await store.reportWorker!(heartbeat(other), { ttlMs: 60_000 })).paused).toBe(true);
        await store.controlWorkers!('*', { paused: false });
        await store.controlWorkers!(id, { stop: true });
        expect((await store.listWorkers!()).find((w) => w.id === id)?.control.stop).toBe(true);
        await store.removeWorker!(id);
        expect((await store.listWorkers!()).some((worker) => worker.id === id)).toBe(false);
      }));
  });
}
