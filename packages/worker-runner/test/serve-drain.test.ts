import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@ncr-upload/core/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  accepts,
  type CliProcess,
  freePort,
  getJson,
  killAll,
  postJson,
  runCli,
  startSubmission,
  testPipelineModule,
} from './cli-helpers.js';

/**
 * `serve` stopping with SIGTERM while a job runs, seen from outside: what a
 * submission that arrives during the drain gets, and where its job goes; and
 * how soon a job whose `serve` was killed (-9) runs again on another process.
 */
const redisPipelineModule = fileURLToPath(new URL('./fixtures/test-pipeline-redis.ts', import.meta.url));
const prefix = `drain-test-${process.pid}-${Date.now()}`;
let dir: string;
const running: CliProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'serve-drain-'));
});
afterEach(async () => {
  await killAll(running);
  await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`*${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function serve(env: Record<string, string>): CliProcess {
  const cli = runCli(['serve'], {
    cwd: dir,
    env: { DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT: '30', ...env },
  });
  running.push(cli);
  return cli;
}

/** The Redis test pipeline's settings, with a key prefix of this run and `name`. */
const redisEnv = (name: string, outbox: string) => ({
  PIPELINE_MODULE: redisPipelineModule,
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_PREFIX: `${prefix}-${name}`,
  TEST_OUTBOX: outbox,
  WORKER_CONCURRENCY: '1',
});

/** `serve` on a free port, once its banner is out. */
async function serveOnRedis(env: Record<string, string>) {
  const port = await freePort();
  const cli = serve({ ...env, API_PORT: String(port) });
  await cli.waitFor(/Dashboard/);
  return { cli, port, api: `http://127.0.0.1:${port}` };
}

const job = (jobId: string) => ({ job_id: jobId, username: 'alice', campaign: 'demo' });

async function runningTask(api: string, taskId: string): Promise<void> {
  await waitFor(
    async () => (await getJson<{ state: string }>(`${api}/job-status/${taskId}`)).state === 'running',
    {
      timeoutMs: 20_000,
      message: `task ${taskId} did not start`,
    },
  );
}

describe('serve: drain and recovery', () => {
  it('in-memory queue: a submission in flight during the drain gets 503 NOT_ACCEPTING and creates nothing', {
    timeout: 60_000,
  }, async () => {
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const outbox = join(dir, 'outbox');
    const server = serve({
      API_PORT: String(port),
      PIPELINE_MODULE: testPipelineModule,
      TEST_OUTBOX: outbox,
    });
    await server.waitFor(/Dashboard/);
    const slow = await postJson(`${api}/process-job`, job('slow-2500-running'));
    await runningTask(api, slow.task_id);
    const late = await startSubmission(port, job('during-drain'));
    server.child.kill('SIGTERM');
    await server.waitFor(/SIGTERM received: draining/);
    await waitFor(async () => !(await accepts(port)), { message: 'the listener did not close' });
    const answer = await late.finish();
    expect(answer.status).toBe(503);
    expect(answer.head.toLowerCase()).toContain('retry-after:');
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'NOT_ACCEPTING' });
    expect((await server.exited).code).toBe(0);
    // The running job finished; the refused one was never created, so nothing of it was delivered.
    expect(await readdir(join(outbox, 'demo', 'alice'))).toEqual(['slow-2500-running.zip']);
    expect(server.output()).not.toContain('during-drain');
  });

  it('Redis: a submission in flight during the drain is accepted, stays queued, and the next process runs it once', {
    timeout: 90_000,
  }, async () => {
    const outbox = join(dir, 'outbox');
    const env = redisEnv('a', outbox);
    const { cli: first, port, api } = await serveOnRedis(env);
    const slow = await postJson(`${api}/process-job`, job('slow-2500-running'));
    await runningTask(api, slow.task_id);
    const late = await startSubmission(port, job('during-drain'));
    first.child.kill('SIGTERM');
    await first.waitFor(/SIGTERM received: draining/);
    await waitFor(async () => !(await accepts(port)), { message: 'the listener did not close' });
    const answer = await late.finish();
    expect(answer.status).toBe(200);
    const { task_id: lateId } = JSON.parse(answer.body) as { task_id: string };
    expect((await first.exited).code).toBe(0);
    expect(first.output()).toContain('1 finished, 0 handed back');

    // Nobody consumes now: the accepted task waits in Redis, not failed by our shutdown.
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      const { createRedisStatusStore } = await import('@ncr-upload/redis-store');
      const store = createRedisStatusStore({ client: redis, prefix: `${prefix}-a` });
      expect((await store.getTask(lateId))?.state).toBe('queued');
    } finally {
      await redis.quit();
    }

    const { api: secondApi } = await serveOnRedis(env);
    await waitFor(
      async () =>
        (await getJson<{ state: string }>(`${secondApi}/job-status/${lateId}`)).state === 'succeeded',
      { timeoutMs: 30_000, message: 'the queued task did not run on the next process' },
    );
    const record = await getJson<{ attempts: number }>(`${secondApi}/job-status/${lateId}`);
    expect(record.attempts).toBe(1);
    expect((await readdir(join(outbox, 'demo', 'alice'))).sort()).toEqual([
      'during-drain.zip',
      'slow-2500-running.zip',
    ]);
  });

  it('Redis: a job whose serve was killed (-9) runs again on another process within the default lock and stall settings', {
    timeout: 90_000,
  }, async () => {
    const outbox = join(dir, 'outbox');
    // The job holds (on the victim, then on the rescuer) until the test removes this file, so the
    // victim still runs it once the rescuer is up however long starting takes on a busy machine.
    await writeFile(join(dir, 'killed'), '');
    const env = { ...redisEnv('b', outbox), TEST_HOLD_DIR: dir };
    const { cli: victim, api } = await serveOnRedis(env);
    const submitted = await postJson(`${api}/process-job`, job('hold-killed'));
    await runningTask(api, submitted.task_id);
    // The rescuer starts only now, so the job is surely the victim's.
    const { cli: rescuer, api: rescueApi } = await serveOnRedis(env);
    const first = await getJson<{ state: string; worker: string }>(
      `${rescueApi}/job-status/${submitted.task_id}`,
    );
    expect(first).toMatchObject({
      state: 'running',
      worker: expect.stringContaining(String(victim.child.pid)),
    });
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    await waitFor(
      async () => {
        const task = await getJson<{ state: string; worker: string }>(
          `${rescueApi}/job-status/${submitted.task_id}`,
        );
        return task.worker.includes(String(rescuer.child.pid));
      },
      { timeoutMs: 40_000, intervalMs: 100, message: 'no other process took the job' },
    );
    const recoveredMs = Date.now() - killedAt;
    console.info(`recovery after kill -9: the job ran again after ${(recoveredMs / 1000).toFixed(1)} s`);
    // BullMQ finds a stalled job in two checks (the first marks it, the next moves it back), and
    // the check is shared by all workers: with the defaults (lock 6 s, check every 3 s) at most
    // 6 + 2 × 3 = 12 s. The bound is 15 s by default.
    expect(recoveredMs).toBeLessThan(15_000);
    await rm(join(dir, 'killed'));
    await waitFor(
      async () =>
        (await getJson<{ state: string }>(`${rescueApi}/job-status/${submitted.task_id}`)).state ===
        'succeeded',
      { timeoutMs: 30_000, message: 'the rescued job did not succeed' },
    );
    expect(await readdir(join(outbox, 'demo', 'alice'))).toEqual(['hold-killed.zip']);
  });
});
