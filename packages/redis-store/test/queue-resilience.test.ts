import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { QueueItem } from '@ncr-upload/core';
import { waitFor } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createBullmqQueue } from '../src/index.js';
import { closeMidJobAndRerun } from './fixtures/hand-back.js';

const workerFile = fileURLToPath(new URL('./fixtures/queue-worker.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const item = (): QueueItem => ({ task_id: `task-${randomUUID()}` });

function startChild(env: Record<string, string>): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, ['--import', 'tsx', workerFile], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, lines };
}

describe('BullMQ queue under failure', () => {
  it('a worker resumes after Redis restarts mid-run, and every job finishes', async () => {
    const server = await startRedisServer({ appendOnly: true });
    cleanups.push(() => server.dispose());
    const queue = createBullmqQueue({
      connection: { host: '127.0.0.1', port: server.port },
      name: `q${randomUUID()}`,
      stalledIntervalMs: 1000,
      lockDurationMs: 5000,
    });
    cleanups.push(() => queue.close({ timeoutMs: 1000 }));
    const items = Array.from({ length: 40 }, item);
    for (const entry of items) await queue.add(entry);
    const finished = new Set<string>();
    queue.process(
      async (entry) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        finished.add(entry.task_id);
      },
      { concurrency: 2 },
    );
    await waitFor(() => finished.size >= 5, { message: 'first jobs', timeoutMs: 20_000 });
    await server.stop();
    await waitFor(() => !queue.isConsuming(), { message: 'the worker to notice the outage' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await server.start();
    await waitFor(
      async () => {
        const counts = await queue.counts();
        return finished.size === items.length && counts.waiting === 0 && counts.active === 0;
      },
      { message: 'all jobs after the restart', timeoutMs: 50_000, intervalMs: 200 },
    );
    expect([...finished].sort()).toEqual(items.map((entry) => entry.task_id).sort());
    await waitFor(() => queue.isConsuming(), { message: 'worker consuming again' });
  }, 90_000);

  it('a job whose worker process is SIGKILLed mid-job is finished by another worker (stalled recovery)', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.dispose());
    const name = `q${randomUUID()}`;
    const victim = startChild({ REDIS_PORT: String(server.port), QUEUE_NAME: name, HOLD: '1' });
    const producer = createBullmqQueue({ connection: { host: '127.0.0.1', port: server.port }, name });
    cleanups.push(() => producer.close({ timeoutMs: 1000 }));
    const job = item();
    await producer.add(job);
    await waitFor(() => victim.lines.includes(`started ${job.task_id}`), {
      message: 'the child to start the job',
      timeoutMs: 30_000,
    });
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.once('exit', resolve));
    expect((await producer.counts()).active).toBe(1);

    const rescuer = startChild({ REDIS_PORT: String(server.port), QUEUE_NAME: name });
    await waitFor(() => rescuer.lines.includes(`finished ${job.task_id}`), {
      message: 'another worker to finish the stalled job',
      timeoutMs: 30_000,
    });
    await waitFor(async () => {
      const counts = await producer.counts();
      return counts.active === 0 && counts.waiting === 0;
    });
  }, 90_000);

  it('fails a job that stalled more than maxStalledCount times and reports it through onFailed', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.dispose());
    const name = `q${randomUUID()}`;
    const victim = startChild({ REDIS_PORT: String(server.port), QUEUE_NAME: name, HOLD: '1' });
    const failed: { item: QueueItem; message: string }[] = [];
    const rescuer = createBullmqQueue({
      connection: { host: '127.0.0.1', port: server.port },
      name,
      stalledIntervalMs: 300,
      maxStalledCount: 0,
      onFailed: (entry, error) => failed.push({ item: entry, message: error.message }),
    });
    cleanups.push(() => rescuer.close({ timeoutMs: 1000 }));
    const job = item();
    await rescuer.add(job);
    await waitFor(() => victim.lines.includes(`started ${job.task_id}`), { timeoutMs: 30_000 });
    victim.child.kill('SIGKILL');
    const ran: string[] = [];
    rescuer.process(async (entry) => void ran.push(entry.task_id), { concurrency: 1 });
    await waitFor(() => failed.length === 1, { message: 'onFailed for the stalled job', timeoutMs: 30_000 });
    expect(failed[0]?.item.task_id).toBe(job.task_id);
    expect(failed[0]?.message).toMatch(/stalled/);
    expect(ran).toEqual([]);
  }, 60_000);

  it('close past its timeout hands the running job back: another worker runs it again', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.dispose());
    const name = `q${randomUUID()}`;
    const options = {
      connection: { host: '127.0.0.1', port: server.port },
      name,
      stalledIntervalMs: 300,
      lockDurationMs: 1000,
    };
    const { job, runs } = await closeMidJobAndRerun(
      createBullmqQueue(options),
      () => {
        const second = createBullmqQueue(options);
        cleanups.push(() => second.close({ timeoutMs: 1000 }));
        return second;
      },
      { onAbort: 'resolve' },
    );
    expect(runs).toEqual([`first ${job.task_id}`, `second ${job.task_id}`]);
  }, 60_000);

  it('runs a double-added item once, and a re-added finished item again', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.dispose());
    const queue = createBullmqQueue({
      connection: { host: '127.0.0.1', port: server.port },
      name: `q${randomUUID()}`,
    });
    cleanups.push(() => queue.close({ timeoutMs: 1000 }));
    const job = item();
    await queue.add(job);
    await queue.add(job);
    expect((await queue.counts()).waiting).toBe(1);
    const runs: string[] = [];
    queue.process(async (entry) => void runs.push(entry.task_id), { concurrency: 2 });
    await waitFor(async () => runs.length === 1 && (await queue.counts()).active === 0);
    await queue.add(job);
    await waitFor(() => runs.length === 2, { message: 'the re-added item to run' });
    expect(runs).toEqual([job.task_id, job.task_id]);
  });
});
