import { makeTask } from '@ncr-upload/core/testing';
import { seedTasks } from '@ncr-upload/test-kit/seed-tasks';
import { expect, it } from 'vitest';
import { createRedisStatusStore } from '../src/index.js';
import { useSharedRedis } from './fixtures/shared-redis.js';

const redis = useSharedRedis();
const COUNT = 3000;

/** Commands Redis ran (scripts' inner calls included), from INFO commandstats. */
async function commandCalls(): Promise<number> {
  const info = await redis.shared.info('commandstats');
  return [...info.matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
}

it('serves a page of tasks from its indexes: the work does not grow with the number of tasks', {
  timeout: 120_000,
}, async () => {
  const store = createRedisStatusStore({ client: redis.shared, prefix: 'console-index' });
  const seeded = await seedTasks(store, COUNT);
  const queries = [
    {},
    { sort: 'size' as const, order: 'desc' as const },
    { states: ['failed' as const, 'rejected' as const], sort: 'duration' as const },
    { worker: 'host-1:1001', search: 'user-1', from: Date.now() - COUNT * 500 },
    { search: 'campaign-3', sort: 'job_id' as const, order: 'asc' as const, offset: 100 },
  ];
  for (const query of queries) {
    await redis.shared.config('RESETSTAT');
    const before = await commandCalls();
    const page = await store.queryTasks!({ ...query, limit: 50 });
    // INFO itself counts once; a page reads 50 records; the query script runs a few commands.
    const calls = (await commandCalls()) - before;
    expect(page.items.length).toBeGreaterThan(0);
    expect(calls, JSON.stringify(query)).toBeLessThan(80);
  }
  // The totals agree with the seeded records.
  const failed = seeded.filter((task) => task.state === 'failed').length;
  expect((await store.queryTasks!({ states: ['failed'], limit: 0 })).total).toBe(failed);
  const first = await store.queryTasks!({ sort: 'size', order: 'desc', limit: 1 });
  expect(first.items[0]?.result?.size).toBe(Math.max(...seeded.map((task) => task.result?.size ?? 0)));
  await store.close?.();
});

/** Calls of one command since the last RESETSTAT, from INFO commandstats. */
async function callsOf(command: string): Promise<number> {
  const info = await redis.shared.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

it('indexes a write only where it changed something: progress ticks cost no index script, columns are re-scored only when they move', async () => {
  const store = createRedisStatusStore({ client: redis.shared, prefix: 'console-write' });
  const { record } = await store.createTask(makeTask());
  const id = record.task_id;
  await store.updateTask(id, { state: 'running', stage: 'resolve', attempts: 1, worker: 'w1' });
  await redis.shared.config('RESETSTAT');
  const progress = { files_done: 1, files_total: 3, bytes_done: 10, bytes_total: 30, percent: 30 };
  await store.updateTask(id, { stage: 'resolve', progress });
  await store.updateTask(id, { stage: 'resolve', progress: { ...progress, files_done: 2, bytes_done: 20 } });
  // Two progress ticks: one script each (the task write), no index script.
  expect(await callsOf('evalsha')).toBe(2);
  const open = (await store.taskTimeline!(id)).at(-1);
  expect(open).toMatchObject({ state: 'running', stage: 'resolve', files_done: 2, bytes_done: 20 });
  await redis.shared.config('RESETSTAT');
  await store.updateTask(id, {
    state: 'succeeded',
    stage: 'cleanup',
    finished_at: new Date().toISOString(),
    result: { remote_path: 'a.zip', size: 30, sha256: 'f', files: 3 },
  });
  // The columns that moved (finished_at, duration, size, state), the state index (the store's own,
  // which is the console's state filter too), the finished list and the expiry: not all 12 columns again.
  expect(await callsOf('zadd')).toBeLessThanOrEqual(6);
  expect(await callsOf('pexpire')).toBeLessThanOrEqual(2);
  const spans = await store.taskTimeline!(id);
  expect(spans.at(-2)).toMatchObject({ stage: 'resolve', files_done: 2, bytes_done: 20 });
  await store.close?.();
});

it('gives a task without console entries (written before them) its fixed columns and search entries on its next write', async () => {
  const prefix = 'console-late';
  const store = createRedisStatusStore({ client: redis.shared, prefix });
  const { record } = await store.createTask(
    makeTask({ job: { job_id: 'Late-Job-7', username: 'late-user', campaign: 'late-campaign', row_id: 7 } }),
  );
  const id = record.task_id;
  const p = `{${prefix}}`;
  const columns = ['job_id', 'username', 'campaign', 'created_at'];
  const recorded = await Promise.all(
    columns.map((column) => redis.shared.zscore(`${p}:cx:sort:${column}`, id)),
  );
  // Forget the task's console entries, as for a record written before the console indexes existed.
  const lex = await redis.shared.zrangebylex(`${p}:cx:lex`, '-', '+');
  await redis.shared.zrem(`${p}:cx:lex`, ...lex.filter((entry) => entry.endsWith(`\0${id}`)));
  for (const column of columns) await redis.shared.zrem(`${p}:cx:sort:${column}`, id);
  await redis.shared.del(`${p}:cx:last:${id}`);
  expect((await store.queryTasks!({ search: 'late-job', limit: 10 })).total).toBe(0);

  await store.startAttempt!(id, { worker: 'w1' });
  // The same scores as the create gave (the store's exact text scores for ASCII text).
  expect(
    await Promise.all(columns.map((column) => redis.shared.zscore(`${p}:cx:sort:${column}`, id))),
  ).toEqual(recorded);
  for (const search of ['late-job-7', 'late-user', 'late-campaign']) {
    const page = await store.queryTasks!({ search, limit: 10 });
    expect(
      page.items.map((item) => item.task_id),
      search,
    ).toEqual([id]);
  }
  // A later write of the recorded task leaves its fixed columns as they are.
  await store.updateTask(id, { state: 'succeeded', stage: 'cleanup', finished_at: new Date().toISOString() });
  expect(
    await Promise.all(columns.map((column) => redis.shared.zscore(`${p}:cx:sort:${column}`, id))),
  ).toEqual(recorded);
  await store.close?.();
});
