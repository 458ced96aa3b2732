import type { UploadPipeline } from '@ncr-upload/core';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createRunner, type Runner } from '../src/index.js';
import { prepareRunnerDir, tearDownRunner } from './fixtures/runner-sandbox.js';
import { createPipeline } from './fixtures/test-pipeline.js';

let dir: string;
let runner: Runner | undefined;
let pipeline: UploadPipeline | undefined;

beforeEach(async () => {
  dir = await prepareRunnerDir('runner-console-');
});
afterEach(async () => {
  await tearDownRunner(dir, runner, pipeline);
  runner = undefined;
  pipeline = undefined;
});

const job = (jobId: string) => ({ job_id: jobId, username: 'alice', campaign: 'demo' });
const wait = { timeout: 15_000, interval: 20 };

async function startRunner() {
  pipeline = createPipeline();
  runner = createRunner({ pipeline, concurrency: 3, consoleHeartbeatMs: 50 });
  await runner.start();
  const store = pipeline.statusStore;
  const id = (await pipeline.stats()).worker_id;
  const worker = async () => (await store.listWorkers!()).find((entry) => entry.id === id);
  await vi.waitFor(async () => expect((await worker())?.online).toBe(true), wait);
  return { pipeline, runner, store, id, worker };
}

it('reports itself, and obeys pause, resume and concurrency set in the store', async () => {
  const { pipeline, store, id, worker } = await startRunner();
  expect(await worker()).toMatchObject({
    concurrency: 3,
    concurrency_current: 3,
    paused: false,
    draining: false,
  });

  await store.controlWorkers!(id, { paused: true });
  await vi.waitFor(
    async () => expect(await worker()).toMatchObject({ paused: true, pause_reason: 'operator' }),
    wait,
  );
  const held = await pipeline.submit(job('ok-held'));
  // Paused: the task stays queued through several heartbeats.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect((await pipeline.getTask(held.task_id))?.state).toBe('queued');

  await store.controlWorkers!('*', { paused: false });
  expect((await pipeline.waitFor(held.task_id, { timeoutMs: 10_000 })).state).toBe('succeeded');
  await vi.waitFor(async () => expect(await worker()).toMatchObject({ paused: false, processed: 1 }), wait);

  await store.controlWorkers!(id, { concurrency: 1 });
  await vi.waitFor(
    async () => expect(await worker()).toMatchObject({ concurrency: 1, concurrency_current: 1 }),
    wait,
  );
  const slow = await Promise.all(['slow-300-a', 'slow-300-b'].map((jobId) => pipeline.submit(job(jobId))));
  // Concurrency 1: while the first runs, the second waits.
  await vi.waitFor(
    async () => expect((await pipeline.listActive()).some((t) => t.state === 'running')).toBe(true),
    wait,
  );
  const states = (await pipeline.listActive()).map((task) => task.state).sort();
  expect(states).toEqual(['queued', 'running']);
  for (const entry of slow)
    expect((await pipeline.waitFor(entry.task_id, { timeoutMs: 10_000 })).state).toBe('succeeded');
});

it('drains and stops when an operator asks, and shows offline', async () => {
  const { store, id, worker, runner } = await startRunner();
  const requested = new Promise<void>((resolve) => runner.once('stop-requested', () => resolve()));
  await store.controlWorkers!(id, { stop: true });
  await requested;
  await runner.stop();
  await vi.waitFor(async () => expect(await worker()).toMatchObject({ online: false, draining: true }), wait);
});
