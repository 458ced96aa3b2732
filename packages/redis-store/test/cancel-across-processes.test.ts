import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UploadPipeline, Validator } from '@ncr-upload/core';
import { waitFor } from '@ncr-upload/core/testing';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { afterEach, expect, it } from 'vitest';
import { createSharedPipeline, type SharedSetup, seedJobs } from './fixtures/pipeline-setup.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** A validator that holds every zip until its call is aborted, so the task stays running at `validate`. */
/** Holds in validation until the signal aborts; with `inMemory` it also takes a small job's zip in memory. */
function holdingValidator(
  inMemory: boolean,
): Validator & { started: number; aborted: number; buffers: number } {
  const state = { started: 0, aborted: 0, buffers: 0 };
  const hold = (_archive: unknown, _job: unknown, options?: { signal?: AbortSignal }) =>
    new Promise<never>((_resolve, reject) => {
      state.started += 1;
      options?.signal?.addEventListener(
        'abort',
        () => {
          state.aborted += 1;
          reject(options.signal?.reason);
        },
        { once: true },
      );
    });
  const holdBuffer: typeof hold = (archive, job, options) => {
    state.buffers += 1;
    return hold(archive, job, options);
  };
  return Object.assign(state, { validate: hold, ...(inMemory ? { validateBuffer: holdBuffer } : {}) });
}

it.each([
  { path: 'disk', inMemory: false },
  { path: 'in-memory (small job)', inMemory: true },
])(
  'a cancel made by another process reaches the running task through the store events, not the poll ($path path)',
  async ({ inMemory }) => {
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const root = await mkdtemp(join(tmpdir(), 'ncr-cancel-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const [held] = await seedJobs(join(root, 'storage'), ['held']);
    const prefix = `x${randomUUID().slice(0, 8)}`;
    const queueName = `q${randomUUID().slice(0, 8)}`;
    const setup = (workerId: string): SharedSetup => ({
      redisPort: server.port,
      prefix,
      queueName,
      storageRoot: join(root, 'storage'),
      destinationRoot: join(root, 'outbox'),
      workDir: join(root, `work-${workerId}`),
      workerId,
    });
    const make = (
      workerId: string,
      overrides: Parameters<typeof createSharedPipeline>[1],
    ): UploadPipeline => {
      const pipeline = createSharedPipeline(setup(workerId), overrides);
      cleanups.push(async () => {
        await pipeline.close({ timeoutMs: 2000 });
        await pipeline.statusStore.close?.();
      });
      return pipeline;
    };

    const validator = holdingValidator(inMemory);
    // The fallback poll is set far beyond the test's time: only the event can stop the task.
    const worker = make('worker', { validator, cancelCheckIntervalMs: 600_000 });
    await worker.start();
    const api = make('api', {});

    const { task_id } = await api.submit(held);
    await waitFor(async () => validator.started === 1, { message: 'the task to reach validate' });
    // The stage is written to the store alongside the call: wait for the write, not only the call.
    await waitFor(async () => (await api.getTask(task_id))?.stage === 'validate', {
      message: 'the validate stage to be recorded',
    });
    expect(await api.getTask(task_id)).toMatchObject({
      state: 'running',
      stage: 'validate',
      worker: 'worker',
    });

    await api.cancel(task_id);
    await waitFor(async () => (await api.getTask(task_id))?.state === 'cancelled', {
      message: 'the running task to end cancelled',
      timeoutMs: 20_000,
    });
    expect(validator.aborted).toBe(1);
    // Which path the task took: the zip in memory, or the local file.
    expect(validator.buffers).toBe(inMemory ? 1 : 0);
    expect(await api.getTask(task_id)).toMatchObject({
      state: 'cancelled',
      cancel_requested: true,
      attempts: 1,
      error: { code: 'CANCELLED' },
    });
    // The upload overlaps validation, so the job's folders may exist; no file (final or .partial) may.
    const left = await readdir(join(root, 'outbox'), { recursive: true, withFileTypes: true }).catch(
      () => [],
    );
    expect(left.filter((entry) => !entry.isDirectory()).map((entry) => entry.name)).toEqual([]);
  },
);
