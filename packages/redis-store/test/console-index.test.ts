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
