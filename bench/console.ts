/**
 * Benchmark: the operations console with 10,000 tasks in a Redis status store.
 * Times the first page of the task list (store query, then `GET /tasks` over
 * HTTP as the page loads it) with and without filters, and counts the Redis
 * commands each query runs (the index work; a scan would run thousands).
 *
 *   npm run bench:console -- --tasks 10000 --runs 30
 */

import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploadPipeline, type TaskQuery } from '@ncr-upload/core';
import {
  createBuiltinValidator,
  createFolderDestination,
  createFolderStorage,
  createPrefixCatalog,
} from '@ncr-upload/core/fs';
import { createUploadApp } from '@ncr-upload/express-adapter';
import { createRedisStatusStore } from '@ncr-upload/redis-store';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { seedTasks } from '@ncr-upload/test-kit/seed-tasks';
import { Redis } from 'ioredis';
import { pino } from 'pino';

const argument = (name: string, fallback: string) => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};
const taskCount = Number(argument('tasks', '10000'));
const runs = Number(argument('runs', '30'));

const quantile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
};

const redis = await startRedisServer();
const client = new Redis(redis.url);
const dir = await mkdtemp(join(tmpdir(), 'bench-console-'));
try {
  const store = createRedisStatusStore({ client, prefix: 'bench-console' });
  const seedStarted = performance.now();
  await seedTasks(store, taskCount);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const storage = createFolderStorage({ root: join(dir, 'storage') });
  const pipeline = createUploadPipeline({
    storage,
    catalog: createPrefixCatalog({ storage }),
    destination: createFolderDestination({ root: join(dir, 'out') }),
    validator: createBuiltinValidator({}),
    statusStore: store,
    workDir: join(dir, 'work'),
  });
  const app = createUploadApp(pipeline, { logger: pino({ level: 'silent' }) });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const cases: [string, TaskQuery, string][] = [
    ['first page, newest first', {}, ''],
    ['sorted by size', { sort: 'size', order: 'desc' }, 'sort=size&order=desc'],
    [
      'failed or rejected, by duration',
      { states: ['failed', 'rejected'], sort: 'duration' },
      'state=failed,rejected&sort=duration',
    ],
    [
      'worker + search + time range',
      { worker: 'host-1:1001', search: 'user-1', from: Date.now() - taskCount * 500 },
      `worker=host-1:1001&q=user-1&from=${new Date(Date.now() - taskCount * 500).toISOString()}`,
    ],
  ];
  const rows: string[] = [];
  for (const [name, query, http] of cases) {
    const storeMs: number[] = [];
    const httpMs: number[] = [];
    let commands = 0;
    for (let run = 0; run < runs; run += 1) {
      await client.config('RESETSTAT');
      let started = performance.now();
      await store.queryTasks?.({ ...query, limit: 50 });
      storeMs.push(performance.now() - started);
      const info = await client.info('commandstats');
      commands = [...info.matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0) - 1;
      started = performance.now();
      const response = await fetch(`${base}/tasks?limit=50&${http}`);
      await response.json();
      httpMs.push(performance.now() - started);
    }
    rows.push(
      `| ${name} | ${quantile(storeMs, 0.5).toFixed(1)} | ${quantile(storeMs, 0.95).toFixed(1)} | ${quantile(httpMs, 0.5).toFixed(1)} | ${quantile(httpMs, 0.95).toFixed(1)} | ${commands} |`,
    );
  }
  const pageStarted = performance.now();
  await (await fetch(`${base}/dashboard/tasks`)).text();
  const pageMs = performance.now() - pageStarted;
  process.stdout.write(
    [
      `Console task list, ${taskCount} tasks in Redis (seeded in ${seedSeconds.toFixed(1)} s), ${runs} runs, page of 50:`,
      '',
      '| query | store p50 ms | store p95 ms | GET /tasks p50 ms | GET /tasks p95 ms | Redis commands |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `The page shell (GET /dashboard/tasks): ${pageMs.toFixed(1)} ms. Target: the first page under 300 ms.`,
      '',
    ].join('\n'),
  );
  server.closeAllConnections();
  server.close();
  app.close();
  await pipeline.close({ timeoutMs: 1000 });
} finally {
  await client.quit();
  await redis.dispose();
  await rm(dir, { recursive: true, force: true });
}
