import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CliProcess, freePort, getJson, postJson, runCli } from './cli-helpers.js';

/**
 * Several `ncr-upload worker` processes on one Redis (the machine's, with a
 * prefix of this run): one is stopped with SIGTERM midway and replaced, and
 * every job still succeeds exactly once.
 */
const JOBS = 200;
let dir: string;
const processes: CliProcess[] = [];
const prefix = `wr-test-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'redis-workers-'));
  for (let index = 0; index < JOBS; index += 1) {
    const folder = join(dir, 'data', 'storage', 'demo', 'alice', `job-${index}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'file.txt'), `job ${index}\n`);
  }
});
afterAll(async () => {
  for (const cli of processes) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  }
  await rm(dir, { recursive: true, force: true });
  // Remove this run's keys from the shared Redis.
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`*${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

it('two workers on one Redis, one replaced midway: 200 jobs succeed exactly once', {
  timeout: 240_000,
}, async () => {
  const port = await freePort();
  const env = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    DATA_DIR: join(dir, 'data'),
    API_PORT: String(port),
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: '4',
    SHUTDOWN_TIMEOUT: '20',
  };
  const start = (command: string) => {
    const cli = runCli([command], { cwd: dir, env });
    processes.push(cli);
    return cli;
  };
  const api = start('api');
  await api.waitFor(/Dashboard/, 60_000);
  const first = start('worker');
  const second = start('worker');
  await first.waitFor(/ncr-upload worker:/, 60_000);
  await second.waitFor(/ncr-upload worker:/, 60_000);

  const base = `http://127.0.0.1:${port}`;
  const taskIds: string[] = [];
  const submit = async (from: number, to: number) => {
    for (let index = from; index < to; index += 1) {
      taskIds.push(
        (
          await postJson(`${base}/process-job`, {
            job_id: `job-${index}`,
            username: 'alice',
            campaign: 'demo',
          })
        ).task_id,
      );
    }
  };
  const countSucceeded = async () => {
    let done = 0;
    for (const taskId of taskIds) {
      const task = await getJson<{ state: string }>(`${base}/job-status/${taskId}`);
      if (task.state === 'succeeded') done += 1;
    }
    return done;
  };
  // The first quarter runs on the two original workers; the rest arrives during the rolling update.
  await submit(0, JOBS / 4);
  while ((await countSucceeded()) < JOBS / 16) await new Promise((resolve) => setTimeout(resolve, 50));
  // A rolling update: start the new worker, wait until it runs, then drain the old one.
  const replacement = start('worker');
  await replacement.waitFor(/ncr-upload worker:/, 60_000);
  first.child.kill('SIGTERM');
  await submit(JOBS / 4, JOBS);
  expect((await first.exited).code).toBe(0);

  for (;;) {
    const tasks = await Promise.all(
      taskIds.map((taskId) => getJson<{ state: string }>(`${base}/job-status/${taskId}`)),
    );
    const unfinished = tasks.filter(
      (task) => !['succeeded', 'failed', 'rejected', 'cancelled'].includes(task.state),
    );
    if (unfinished.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const records = await Promise.all(
    taskIds.map((taskId) =>
      getJson<{ state: string; attempts: number; worker: string }>(`${base}/job-status/${taskId}`),
    ),
  );
  expect(records.filter((record) => record.state !== 'succeeded')).toEqual([]);
  // Exactly once: no task needed a second attempt, and every job has one zip.
  expect(records.filter((record) => record.attempts !== 1)).toEqual([]);
  const ranOn = (cli: CliProcess) =>
    records.filter((record) => record.worker?.endsWith(`:${cli.child.pid}`)).length;
  expect(ranOn(first)).toBeGreaterThan(0);
  expect(ranOn(second)).toBeGreaterThan(0);
  expect(ranOn(replacement)).toBeGreaterThan(0);
  expect(ranOn(first) + ranOn(second) + ranOn(replacement)).toBe(JOBS);
  expect((await readdir(join(dir, 'data', 'outbox', 'demo', 'alice'))).length).toBe(JOBS);

  for (const cli of [second, replacement, api]) cli.child.kill('SIGTERM');
  for (const cli of [second, replacement, api]) expect((await cli.exited).code).toBe(0);
});
