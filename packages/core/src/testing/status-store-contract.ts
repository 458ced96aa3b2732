import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../job.js';
import type { StatusStore, TaskEvent } from '../ports/status-store.js';
import { makeJob, makeTask, uniqueId, waitFor } from './helpers.js';
import { testStartAttemptSection } from './start-attempt-contract.js';
import { testTaskInsightsSection } from './task-insights-contract.js';

export interface StatusStoreContractOptions {
  /** Shown in the describe block. */
  name: string;
  /** A fresh store for one test. Stores may share a backend: the suite uses unique ids throughout. */
  create: () => Promise<StatusStore>;
  /** Called after each test with the store it used (after `store.close()`). */
  cleanup?: (store: StatusStore) => Promise<void>;
  /** The store has the console capabilities (`queryTasks`, `taskTimeline`, ...): check them too. Default false. */
  insights?: boolean;
  /** The store has `startAttempt()`: check it too. Default false. */
  startAttempt?: boolean;
}

const OLD = '2000-01-01T00:00:00.000Z';
const at = (offsetSeconds: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, offsetSeconds)).toISOString();
const finish = (state: 'succeeded' | 'failed' | 'rejected' | 'cancelled') => ({
  state,
  finished_at: new Date().toISOString(),
});

/**
 * The behaviour every `StatusStore` must have. Call it at the top level of a
 * test file: `testStatusStore({ name: 'redis', create: async () => createRedisStatusStore(...) })`.
 */
export function testStatusStore(options: StatusStoreContractOptions): void {
  const withStore = async (body: (store: StatusStore) => Promise<void>) => {
    const store = await options.create();
    try {
      await body(store);
    } finally {
      await store.close?.();
      await options.cleanup?.(store);
    }
  };

  describe(`StatusStore contract: ${options.name}`, () => {
    it('stores a task and returns it unchanged, as a copy', () =>
      withStore(async (store) => {
        const task = makeTask({ job: makeJob({ row_id: 42 }) });
        const result = await store.createTask(task);
        expect(result.created).toBe(true);
        expect(result.record).toEqual(task);
        const read = await store.getTask(task.task_id);
        expect(read).toEqual(task);
        read!.progress.files_done = 99;
        read!.job.username = 'changed';
        expect(await store.getTask(task.task_id)).toEqual(task);
      }));

    it('returns null for unknown ids', () =>
      withStore(async (store) => {
        const unknown = uniqueId('missing');
        expect(await store.getTask(unknown)).toBeNull();
        expect(await store.updateTask(unknown, { state: 'running' })).toBeNull();
        expect(await store.findActiveByJob(makeJob({ job_id: unknown }))).toBeNull();
        expect(await store.getBatch(unknown)).toBeNull();
      }));

    it('returns the active task for a job instead of creating a second one', () =>
      withStore(async (store) => {
        const first = makeTask();
        expect((await store.createTask(first)).created).toBe(true);
        for (const state of ['queued', 'running', 'retrying'] as const) {
          await store.updateTask(first.task_id, { state });
          const again = await store.createTask(makeTask({ job: first.job }));
          expect(again.created).toBe(false);
          expect(again.record.task_id).toBe(first.task_id);
          expect(again.record.state).toBe(state);
          expect((await store.findActiveByJob(first.job))?.task_id).toBe(first.task_id);
        }
        await store.updateTask(first.task_id, finish('failed'));
        expect(await store.findActiveByJob(first.job)).toBeNull();
        const second = makeTask({ job: first.job });
        const created = await store.createTask(second);
        expect(created.created).toBe(true);
        expect(created.record.task_id).toBe(second.task_id);
        expect((await store.findActiveByJob(first.job))?.task_id).toBe(second.task_id);
        expect((await store.getTask(first.task_id))?.state).toBe('failed');
      }));

    it('keys idempotency on campaign, username and job_id together', () =>
      withStore(async (store) => {
        const job = makeJob();
        const first = makeTask({ job });
        expect((await store.createTask(first)).created).toBe(true);
        // The same job_id from another username or another campaign is another job: it runs too.
        const otherUser = makeTask({ job: { ...job, username: uniqueId('user') } });
        const otherCampaign = makeTask({ job: { ...job, campaign: uniqueId('campaign') } });
        for (const task of [otherUser, otherCampaign]) {
          const result = await store.createTask(task);
          expect(result.created).toBe(true);
          expect(result.record.task_id).toBe(task.task_id);
          expect((await store.findActiveByJob(task.job))?.task_id).toBe(task.task_id);
        }
        // The same three again is the same job: its active task comes back.
        const again = await store.createTask(makeTask({ job: { ...job, row_id: 7 } }));
        expect(again).toMatchObject({ created: false, record: { task_id: first.task_id } });
        expect((await store.findActiveByJob(job))?.task_id).toBe(first.task_id);
        // Names that only differ in where a separator could fall stay apart.
        const shifted = makeTask({
          job: { ...job, campaign: `${job.campaign}x`, username: job.username.slice(1) },
        });
        expect((await store.createTask(shifted)).created).toBe(true);
      }));

    it('creates exactly one task when ten submissions of a job_id race', () =>
      withStore(async (store) => {
        const job = makeJob();
        const candidates = Array.from({ length: 10 }, () => makeTask({ job }));
        const results = await Promise.all(candidates.map((task) => store.createTask(task)));
        const created = results.filter((result) => result.created);
        expect(created).toHaveLength(1);
        const winner = created[0]!.record.task_id;
        for (const result of results) expect(result.record.task_id).toBe(winner);
        const stored = await Promise.all(candidates.map((task) => store.getTask(task.task_id)));
        expect(stored.filter((record) => record !== null)).toHaveLength(1);
        expect((await store.listTasks({ job_id: job.job_id })).map((task) => task.task_id)).toEqual([winner]);
      }));

    it('merges an update, keeps the other fields and bumps updated_at', () =>
      withStore(async (store) => {
        const task = makeTask({ created_at: OLD, updated_at: OLD, attempts: 1 });
        await store.createTask(task);
        const progress = { files_done: 1, files_total: 4, bytes_done: 10, bytes_total: 40, percent: 25 };
        const started = new Date().toISOString();
        const updated = await store.updateTask(task.task_id, {
          state: 'running',
          stage: 'fetch',
          progress,
          started_at: started,
          worker: 'worker-1',
        });
        expect(updated).not.toBeNull();
        expect(updated!.state).toBe('running');
        expect(updated!.stage).toBe('fetch');
        expect(updated!.progress).toEqual(progress);
        expect(updated!.started_at).toBe(started);
        expect(updated!.worker).toBe('worker-1');
        expect(updated!.job).toEqual(task.job);
        expect(updated!.attempts).toBe(1);
        expect(updated!.created_at).toBe(OLD);
        expect(updated!.updated_at > OLD).toBe(true);
        expect(await store.getTask(task.task_id)).toEqual(updated);

        const error = {
          code: 'STORAGE_ERROR' as const,
          message: 'Storage failed.',
          stage: 'fetch' as const,
          retryable: true,
        };
        const failed = await store.updateTask(task.task_id, { ...finish('failed'), error });
        expect(failed!.error).toEqual(error);
        expect(failed!.stage).toBe('fetch');
        expect(failed!.updated_at >= updated!.updated_at).toBe(true);
      }));

    it('lists active tasks oldest first', () =>
      withStore(async (store) => {
        const tasks = [3, 1, 2, 0].map((offset) =>
          makeTask({ created_at: at(offset), updated_at: at(offset) }),
        );
        for (const task of tasks) await store.createTask(task);
        await store.updateTask(tasks[2]!.task_id, { state: 'running' });
        await store.updateTask(tasks[3]!.task_id, finish('succeeded'));
        const mine = new Set(tasks.map((task) => task.task_id));
        const active = (await store.listActive()).filter((task) => mine.has(task.task_id));
        expect(active.map((task) => task.task_id)).toEqual(
          [tasks[1], tasks[2], tasks[0]].map((task) => task!.task_id),
        );
        expect(active.map((task) => task.state)).toEqual(['queued', 'running', 'queued']);
      }));

    it('lists tasks newest first, filtered by every given field, with a limit', () =>
      withStore(async (store) => {
        const username = uniqueId('user');
        const campaign = uniqueId('campaign');
        const other = uniqueId('campaign');
        const tasks: TaskRecord[] = [];
        for (let index = 0; index < 6; index += 1) {
          const job = makeJob({ username, campaign: index % 2 === 0 ? campaign : other });
          const task = makeTask({ job, created_at: at(index), updated_at: at(index) });
          tasks.push(task);
          await store.createTask(task);
        }
        await store.updateTask(tasks[4]!.task_id, finish('failed'));
        const ids = (list: TaskRecord[]) => list.map((task) => task.task_id);
        const newest = [...tasks].reverse();
        expect(ids(await store.listTasks({ username }))).toEqual(ids(newest));
        expect(ids(await store.listTasks({ username, limit: 2 }))).toEqual(ids(newest.slice(0, 2)));
        expect(ids(await store.listTasks({ campaign }))).toEqual(ids([tasks[4]!, tasks[2]!, tasks[0]!]));
        expect(ids(await store.listTasks({ username, campaign, state: 'queued' }))).toEqual(
          ids([tasks[2]!, tasks[0]!]),
        );
        expect(ids(await store.listTasks({ username, state: 'failed' }))).toEqual([tasks[4]!.task_id]);
        expect(ids(await store.listTasks({ job_id: tasks[3]!.job_id }))).toEqual([tasks[3]!.task_id]);
        expect(await store.listTasks({ username: uniqueId('nobody') })).toEqual([]);
      }));

    it('returns at most 100 tasks when no limit is given', () =>
      withStore(async (store) => {
        const username = uniqueId('user');
        const tasks = Array.from({ length: 105 }, (_, index) =>
          makeTask({ job: makeJob({ username }), created_at: at(index), updated_at: at(index) }),
        );
        for (const task of tasks) await store.createTask(task);
        const listed = await store.listTasks({ username });
        expect(listed).toHaveLength(100);
        expect(listed[0]!.task_id).toBe(tasks[104]!.task_id);
        expect(listed[99]!.task_id).toBe(tasks[5]!.task_id);
      }));

    it('aggregates a batch as its tasks change, including concurrent updates', () =>
      withStore(async (store) => {
        const batchId = uniqueId('batch');
        const created = new Date().toISOString();
        const tasks = Array.from({ length: 6 }, () => makeTask({ batch_id: batchId }));
        for (const task of tasks) await store.createTask(task);
        await store.createBatch({
          batch_id: batchId,
          task_ids: tasks.map((task) => task.task_id),
          created_at: created,
        });

        const initial = await store.getBatch(batchId);
        expect(initial).toMatchObject({ batch_id: batchId, total: 6, completed: 0, percent: 0, done: false });
        expect(initial!.counts.queued).toBe(6);
        expect(initial!.task_ids).toEqual(tasks.map((task) => task.task_id));
        expect(initial!.created_at).toBe(created);

        await store.updateTask(tasks[0]!.task_id, { state: 'running' });
        await store.updateTask(tasks[1]!.task_id, finish('succeeded'));
        await store.updateTask(tasks[2]!.task_id, finish('failed'));
        const middle = await store.getBatch(batchId);
        expect(middle).toMatchObject({ total: 6, completed: 2, percent: 33.33, done: false });
        expect(middle!.counts).toMatchObject({ queued: 3, running: 1, succeeded: 1, failed: 1 });

        const endings = ['succeeded', 'rejected', 'cancelled', 'succeeded'] as const;
        await Promise.all([
          ...[0, 3, 4, 5].map((index, position) =>
            store.updateTask(tasks[index]!.task_id, finish(endings[position]!)),
          ),
          ...tasks.map((task) => store.updateTask(task.task_id, { worker: 'racing-worker' })),
        ]);
        const final = await store.getBatch(batchId);
        expect(final).toMatchObject({ total: 6, completed: 6, percent: 100, done: true });
        expect(final!.counts).toEqual({
          queued: 0,
          running: 0,
          retrying: 0,
          succeeded: 3,
          failed: 1,
          rejected: 1,
          cancelled: 1,
        });
        for (const task of tasks) expect((await store.getTask(task.task_id))!.worker).toBe('racing-worker');
      }));

    it('delivers task events to subscribers when it supports them', () =>
      withStore(async (store) => {
        if (!store.subscribe) {
          expect(store.subscribe).toBeUndefined();
          return;
        }
        const events: TaskEvent[] = [];
        const task = makeTask();
        const mine = (event: TaskEvent) => event.task_id === task.task_id;
        const unsubscribe = store.subscribe((event) => {
          if (mine(event)) events.push(event);
        });
        const broken = store.subscribe(() => {
          throw new Error('a broken listener');
        });
        await store.createTask(task);
        await store.updateTask(task.task_id, { state: 'running', stage: 'fetch' });
        const error = { code: 'TIMEOUT' as const, message: 'Too slow.', retryable: true };
        await store.updateTask(task.task_id, { ...finish('failed'), error });
        await waitFor(() => events.length >= 3, { message: 'expected three task events' });
        expect(events.map((event) => [event.type, event.state, event.error_code])).toEqual([
          ['task.created', 'queued', null],
          ['task.updated', 'running', null],
          ['task.updated', 'failed', 'TIMEOUT'],
        ]);
        expect(events[1]).toMatchObject({ job_id: task.job_id, batch_id: null, stage: 'fetch' });
        expect(typeof events[2]!.at).toBe('string');
        expect(events[2]!.progress).toEqual(task.progress);

        // After unsubscribing, no further events arrive (a later listener proves delivery went on).
        unsubscribe();
        broken();
        await store.updateTask(task.task_id, { worker: 'after-unsubscribe' });
        const later: TaskEvent[] = [];
        const stop = store.subscribe((event) => {
          if (mine(event)) later.push(event);
        });
        await store.updateTask(task.task_id, { worker: 'with-new-listener' });
        await waitFor(() => later.length >= 1, { message: 'expected an event for the new listener' });
        stop();
        expect(events).toHaveLength(3);
      }));
    if (options.insights) testTaskInsightsSection(withStore);
    if (options.startAttempt) testStartAttemptSection(withStore);
  });
}
