import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploadApp } from '@ncr-upload/express-adapter';
import { type RedisServerHandle, startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltPipeline, buildPipelineFromConfig } from '../src/build-pipeline.js';
import { loadConfig } from '../src/config.js';

/**
 * Redis is connected but answers late (the CLI's own Redis clients, a real
 * redis-server frozen with SIGSTOP): a read or a submission waits for it up to
 * the pipeline's `dependencyTimeoutMs` (5 s) and gets its answer, instead of a
 * 503 from a client timer; past that it gets a 503 that says so, and the store
 * answers again once Redis runs. No worker consumes here: only the API's calls.
 */
describe('Redis stalls (connected, slow)', () => {
  let redis: RedisServerHandle;
  let dir: string;
  let built: BuiltPipeline;
  let server: Server;
  let api: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'redis-stall-'));
    const config = loadConfig(
      {
        REDIS_URL: redis.url,
        REDIS_PREFIX: `s${process.pid}`,
        DATA_DIR: join(dir, 'data'),
        WORK_DIR: join(dir, 'work'),
        MAX_MEMORY_USAGE_PERCENT: '100',
      },
      { envFile: false },
    );
    built = await buildPipelineFromConfig(config, { seedSample: false });
    const app = createUploadApp(built.pipeline, { logger: pino({ level: 'silent' }) });
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await built?.close({ timeoutMs: 2000 });
    await redis?.dispose();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  async function submit(jobId: string) {
    const folder = join(dir, 'data', 'storage', 'c', 'u', jobId);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'a.txt'), `file of ${jobId}`);
    return request('/process-job', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: jobId, username: 'u', campaign: 'c' }),
    });
  }

  async function request(path: string, init?: RequestInit) {
    const started = Date.now();
    const response = await fetch(`${api}${path}`, init);
    const body = (await response.json()) as Record<string, unknown>;
    return { status: response.status, body, ms: Date.now() - started };
  }

  /** Freeze Redis for `ms`, starting the requests once it is frozen; their answers and the stall's end. */
  async function duringStall<T>(ms: number, requests: () => Promise<T>[]) {
    const stall = redis.stall(ms);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const answers = await Promise.all(requests());
    return { answers, stall };
  }

  it('answers a read and a submission that Redis answers 3 s late (a client timer used to answer 503)', async () => {
    const created = await submit('before-stall');
    expect(created.status).toBe(200);
    const taskId = created.body.task_id as string;

    const { answers, stall } = await duringStall(3000, () => [
      request(`/job-status/${taskId}`),
      submit('during-stall'),
    ]);
    await stall;
    const [read, submitted] = answers;
    expect(read?.status).toBe(200);
    expect(read?.body.task_id).toBe(taskId);
    expect(submitted?.status).toBe(200);
    expect(typeof submitted?.body.task_id).toBe('string');
    // They waited for Redis: answered after it thawed, not from a cache.
    expect(read?.ms).toBeGreaterThanOrEqual(2500);
    // The submission made while Redis was frozen is recorded.
    const recorded = await request(`/job-status/${submitted?.body.task_id as string}`);
    expect(recorded.status).toBe(200);
  }, 30_000);

  it('answers 503 DEPENDENCY_UNAVAILABLE that names the wait when Redis stays silent past 5 s, then 200 once it runs', async () => {
    const created = await submit('before-long-stall');
    const taskId = created.body.task_id as string;
    const { answers, stall } = await duringStall(8000, () => [request(`/job-status/${taskId}`)]);
    const [read] = answers;
    expect(read?.status).toBe(503);
    expect(read?.body.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(read?.body.detail).toContain('did not answer within 5000 ms');
    await stall;
    expect((await request(`/job-status/${taskId}`)).status).toBe(200);
  }, 30_000);
});
