import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTerminal, type Logger, type TaskEvent } from '@ncr-upload/core';
import { waitFor } from '@ncr-upload/core/testing';
import { createUploadApp } from '@ncr-upload/express-adapter';
import { type RedisServerHandle, startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { type SshdServer, startSshd } from '@ncr-upload/test-kit/sshd';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltPipeline, buildPipelineFromConfig } from '../src/build-pipeline.js';
import { loadConfig } from '../src/config.js';

/**
 * Redis goes away under a running API and worker (the CLI's own wiring, real
 * redis-server and sshd): answers stay fast and clear, and no accepted job is
 * lost, run twice, or leaves files behind.
 */
describe('Redis outage', () => {
  let redis: RedisServerHandle;
  let sshd: SshdServer;
  let dir: string;
  let built: BuiltPipeline;
  let server: Server;
  let api: string;
  const logs: { level: string; message: string }[] = [];
  const log =
    (level: string) =>
    (_object: object, message?: string): void => {
      logs.push({ level, message: message ?? '' });
    };
  const logger: Logger = { debug() {}, info: log('info'), warn: log('warn'), error: log('error') };

  beforeAll(async () => {
    [redis, sshd] = await Promise.all([startRedisServer({ appendOnly: true }), startSshd()]);
    dir = await mkdtemp(join(tmpdir(), 'redis-outage-'));
    await writeFile(join(dir, 'key'), sshd.privateKey, { mode: 0o600 });
    const config = loadConfig(
      {
        REDIS_URL: redis.url,
        REDIS_PREFIX: `o${process.pid}`,
        DATA_DIR: join(dir, 'data'),
        WORK_DIR: join(dir, 'work'),
        SFTP_HOST: sshd.host,
        SFTP_PORT: String(sshd.port),
        SFTP_USERNAME: sshd.username,
        SFTP_PRIVATE_KEY_PATH: join(dir, 'key'),
        SFTP_HOST_FINGERPRINT: sshd.hostFingerprint,
        SFTP_REMOTE_DIR: sshd.root,
        WORKER_CONCURRENCY: '8',
        MAX_MEMORY_USAGE_PERCENT: '100',
      },
      { envFile: false },
    );
    built = await buildPipelineFromConfig(config, { logger, seedSample: false });
    const app = createUploadApp(built.pipeline, {
      retryAfterSeconds: 2,
      logger: pino({ level: 'silent' }),
    });
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await built.pipeline.start();
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await built?.close({ timeoutMs: 2000 });
    await Promise.allSettled([redis?.dispose(), sshd?.stop()]);
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  async function seed(jobId: string) {
    const folder = join(dir, 'data', 'storage', 'c', 'u', jobId);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'a.txt'), `file of ${jobId}`);
    return { job_id: jobId, username: 'u', campaign: 'c' };
  }

  /** One request, timed. */
  async function timed(path: string, init?: RequestInit) {
    const started = Date.now();
    const response = await fetch(`${api}${path}`, init);
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: response.status, body, headers: response.headers, ms: Date.now() - started };
  }
  const post = (job: object) =>
    timed('/process-job', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(job),
    });

  it('answers 503 DEPENDENCY_UNAVAILABLE fast while Redis is down, /live at once, and logs lost and back', async () => {
    const first = await post(await seed('before-outage'));
    expect(first.status).toBe(200);
    const taskId = first.body.task_id as string;
    await waitFor(async () => isTerminal((await built.pipeline.getTask(taskId))?.state ?? 'queued'), {
      timeoutMs: 30_000,
    });

    await redis.stop();
    const submitted = await post(await seed('during-outage'));
    expect(submitted.status).toBe(503);
    expect(submitted.body.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(submitted.headers.get('retry-after')).toBe('2');
    expect(submitted.ms).toBeLessThan(2500);
    const read = await timed(`/job-status/${taskId}`);
    expect(read.status).toBe(503);
    expect(read.ms).toBeLessThan(2500);
    const live = await timed('/live');
    expect(live.status).toBe(200);
    expect(live.ms).toBeLessThan(1000);
    const health = await timed('/health');
    expect(health.status).toBe(503);
    expect(health.body.redis).toBe('unreachable');
    expect(typeof health.body.redis_reason).toBe('string');
    await waitFor(() => logs.some((line) => line.message.startsWith('Redis connection lost')));

    await redis.start();
    await waitFor(() => logs.some((line) => line.message === 'Redis connection is back'), {
      timeoutMs: 15_000,
    });
    expect(logs.filter((line) => line.message.startsWith('Redis connection lost'))).toHaveLength(1);
    // Each connection (status store, queue) comes back on its own: a client retrying on 503 gets through.
    const job = await seed('after-outage');
    await waitFor(async () => (await post(job)).status === 200, { timeoutMs: 15_000, intervalMs: 200 });
  }, 60_000);

  it('10 s without Redis under ~200 submissions/s: every answer 200 or 503 within 2 s, every accepted job ends once, nothing left behind', async () => {
    const ends = new Map<string, Set<string>>();
    const unsubscribe = built.pipeline.subscribe((event: TaskEvent) => {
      if (event.type !== 'task.updated' || !isTerminal(event.state)) return;
      const seen = ends.get(event.task_id) ?? new Set<string>();
      seen.add(event.state);
      ends.set(event.task_id, seen);
    });
    const answers: { status: number; ms: number; taskId?: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let index = 0;
    const submitFor = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const tick = Date.now();
        for (let burst = 0; burst < 20; burst += 1) {
          const job = await seed(`load-${index++}`);
          const request = post(job).then((answer) => {
            answers.push({ status: answer.status, ms: answer.ms, taskId: answer.body.task_id as string });
          });
          inFlight.add(request);
          void request.finally(() => inFlight.delete(request));
        }
        // About 200 per second: 20 every 100 ms.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))));
      }
    };
    const backAgain = () => logs.filter((line) => line.message === 'Redis connection is back').length;
    const wasBack = backAgain();
    await submitFor(2000);
    const beforeOutage = answers.length;
    await redis.stop();
    await submitFor(10_000);
    await redis.start();
    await submitFor(2000);
    await waitFor(() => backAgain() > wasBack, { timeoutMs: 15_000 });
    await submitFor(2000);
    await Promise.all([...inFlight]);
    expect(answers.slice(0, beforeOutage).filter((answer) => answer.status !== 200)).toEqual([]);

    expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 503)).toEqual([]);
    expect(answers.filter((answer) => answer.ms > 2000)).toEqual([]);
    const accepted = answers.filter((answer) => answer.status === 200).map((answer) => answer.taskId!);
    expect(accepted.length).toBeGreaterThan(beforeOutage);
    expect(answers.some((answer) => answer.status === 503)).toBe(true);
    await waitFor(
      async () => {
        const records = await Promise.all(accepted.map((taskId) => built.pipeline.getTask(taskId)));
        return records.every((record) => record && isTerminal(record.state));
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'every accepted job ended' },
    );
    const records = await Promise.all(accepted.map((taskId) => built.pipeline.getTask(taskId)));
    expect(records.filter((record) => record?.state !== 'succeeded').map((record) => record?.error)).toEqual(
      [],
    );
    unsubscribe();
    // Ended exactly once: one outcome per task (a terminal write whose reply was lost in the outage may be
    // written again, with the same outcome), one zip per task, and no task re-run after its end.
    expect(accepted.filter((taskId) => (ends.get(taskId)?.size ?? 0) !== 1)).toEqual([]);
    expect(await readdir(join(dir, 'work')).catch(() => [])).toEqual([]);
    const left = await readdir(join(sshd.root, 'c', 'u'));
    expect(left.filter((name) => name.endsWith('.partial'))).toEqual([]);
    expect(left.filter((name) => name.startsWith('load-') && name.endsWith('.zip')).length).toBe(
      new Set(accepted).size,
    );
  }, 240_000);
});
