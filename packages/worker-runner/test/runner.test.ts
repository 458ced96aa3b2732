import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryMonitor, type SystemMemoryReading, type UploadPipeline } from '@ncr-upload/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRunner, type RecycleEvent, type Runner } from '../src/index.js';
import { decideLoopLimit } from '../src/loop-guard.js';
import { testPipelineModule } from './cli-helpers.js';
import { prepareRunnerDir, tearDownRunner } from './fixtures/runner-sandbox.js';
import { createPipeline } from './fixtures/test-pipeline.js';

const pipelineModule = testPipelineModule;
let dir: string;
let runner: Runner | undefined;
let pipeline: UploadPipeline | undefined;

beforeEach(async () => {
  dir = await prepareRunnerDir('runner-test-');
});

afterEach(async () => {
  await tearDownRunner(dir, runner, pipeline);
  runner = undefined;
  pipeline = undefined;
});

function start(options: Omit<Parameters<typeof createRunner>[0], 'pipeline'> = {}) {
  pipeline = createPipeline();
  runner = createRunner({
    pipeline,
    pipelineModule,
    isolation: 'process',
    concurrency: 2,
    ...options,
  });
  return { pipeline, runner };
}

const job = (jobId: string) => ({ job_id: jobId, username: 'alice', campaign: 'demo' });

async function runAll(target: UploadPipeline, jobIds: string[]) {
  const submitted = await Promise.all(jobIds.map((jobId) => target.submit(job(jobId))));
  return Promise.all(submitted.map((entry) => target.waitFor(entry.task_id, { timeoutMs: 50_000 })));
}

describe('process isolation', () => {
  it('recycles a child after maxTasksPerChild jobs, and every job succeeds', async () => {
    const { pipeline, runner } = start({ concurrency: 1, maxTasksPerChild: 2 });
    const recycles: RecycleEvent[] = [];
    runner.on('recycle', (event) => recycles.push(event));
    await runner.start();
    const records = await runAll(pipeline, ['ok-1', 'ok-2', 'ok-3', 'ok-4', 'ok-5']);
    expect(records.map((record) => record.state)).toEqual(Array(5).fill('succeeded'));
    await vi.waitFor(() => expect(recycles.length).toBe(2), { timeout: 10_000 });
    expect(recycles[0]?.reason).toMatch(/max tasks per child reached \(2 of 2\)/);
    expect(new Set(recycles.map((event) => event.pid)).size).toBe(2);
    expect(await readdir(join(dir, 'outbox', 'demo', 'alice'))).toHaveLength(5);
  });

  it('recycles a child whose RSS grew above maxMemoryPerChildKb, and keeps one that stayed below', async () => {
    const { pipeline, runner } = start({ concurrency: 1, maxMemoryPerChildKb: 200_000 });
    const recycles: RecycleEvent[] = [];
    runner.on('recycle', (event) => recycles.push(event));
    await runner.start();
    let ended = 0;
    runner.on('job-end', () => {
      ended += 1;
    });
    const first = await runAll(pipeline, ['ok-small']);
    expect(first[0]?.state).toBe('succeeded');
    await vi.waitFor(() => expect(ended).toBe(1), { timeout: 10_000 });
    expect(recycles).toHaveLength(0);
    const second = await runAll(pipeline, ['alloc-big']);
    expect(second[0]?.state).toBe('succeeded');
    // The task is recorded before the child reports back: wait for the report.
    await vi.waitFor(() => expect(recycles).toHaveLength(1), { timeout: 10_000 });
    expect(recycles[0]?.reason).toMatch(/RSS \d+ KB is above max memory per child 200000 KB/);
    expect(recycles[0]?.rss).toBeGreaterThan(200_000 * 1024);
  });

  it('a child that crashes mid-job fails only its own job, with the reason, and is replaced', async () => {
    const { pipeline, runner } = start({ concurrency: 2 });
    const exits: { signal: string | null; task_id: string | null }[] = [];
    runner.on('child-exit', (event) => exits.push(event));
    await runner.start();
    const records = await runAll(pipeline, ['ok-a', 'crash-b', 'slow-300-c', 'ok-d']);
    const byJob = Object.fromEntries(records.map((record) => [record.job_id, record]));
    expect(byJob['crash-b']?.state).toBe('failed');
    expect(byJob['crash-b']?.error?.code).toBe('WORKER_CRASHED');
    expect(byJob['crash-b']?.error?.retryable).toBe(true);
    // It ended: its message says why and that no further attempt comes.
    expect(byJob['crash-b']?.error?.message).toMatch(
      /^worker process exited with signal SIGKILL while in stage (resolve|layout|fetch)\. Gave up after \d attempts?; retry the task once the cause is fixed\.$/,
    );
    for (const id of ['ok-a', 'slow-300-c', 'ok-d']) expect(byJob[id]?.state).toBe('succeeded');
    expect(
      exits.some((event) => event.signal === 'SIGKILL' && event.task_id === byJob['crash-b']?.task_id),
    ).toBe(true);
    // The crashed child's temp folder is gone.
    const work = await readdir(join(dir, 'work')).catch(() => []);
    expect(work.filter((name) => name.startsWith('task-'))).toEqual([]);
  });

  it('retries a crashed job when the policy allows more attempts', async () => {
    process.env.TEST_ATTEMPTS = '2';
    const { pipeline, runner } = start({ concurrency: 1 });
    await runner.start();
    const [record] = await runAll(pipeline, ['crash-twice']);
    expect(record?.state).toBe('failed');
    expect(record?.attempts).toBe(2);
    expect(record?.error?.code).toBe('WORKER_CRASHED');
    expect((await runner.stats()).crashes).toBe(2);
  });

  it('kills a child that runs past jobTimeoutMs and records TIMEOUT', async () => {
    const { pipeline, runner } = start({ concurrency: 2, jobTimeoutMs: 1500 });
    await runner.start();
    const records = await runAll(pipeline, ['hang-1', 'ok-2']);
    expect(records[0]?.state).toBe('failed');
    expect(records[0]?.error?.code).toBe('TIMEOUT');
    expect(records[0]?.error?.message).toMatch(/timeout of 1\.5 s \(in stage (resolve|layout|fetch)\)/);
    expect(records[1]?.state).toBe('succeeded');
  });

  it('restartChildren replaces every child without losing a job', async () => {
    const { pipeline, runner } = start({ concurrency: 2 });
    const recycles: RecycleEvent[] = [];
    runner.on('recycle', (event) => recycles.push(event));
    await runner.start();
    await runAll(pipeline, ['ok-warm-1', 'ok-warm-2']);
    const before = (await runner.stats()).children.map((child) => child.pid);
    const submitted = await Promise.all(
      ['slow-800-x', 'slow-800-y', 'ok-z'].map((id) => pipeline.submit(job(id))),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await runner.restartChildren();
    const records = await Promise.all(
      submitted.map((entry) => pipeline.waitFor(entry.task_id, { timeoutMs: 30_000 })),
    );
    expect(records.map((record) => record.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(
      recycles
        .filter((event) => event.reason === 'rolling restart')
        .map((event) => event.pid)
        .sort(),
    ).toEqual([...before].sort());
    const after = (await runner.stats()).children.map((child) => child.pid);
    for (const pid of after) expect(before).not.toContain(pid);
  });
});

describe('memory-aware admission', () => {
  it('pauses the queue above the threshold and resumes below it, saying why', async () => {
    const reading: SystemMemoryReading = { total: 1000 * 1024 * 1024, used: 900 * 1024 * 1024, source: 'os' };
    const memoryMonitor = createMemoryMonitor({
      maxMemoryPercent: 80,
      maxConcurrency: 4,
      probe: () => ({ ...reading }),
    });
    pipeline = createPipeline();
    runner = createRunner({
      pipeline,
      concurrency: 4,
      maxMemoryPercent: 80,
      memoryMonitor,
      memoryCheckIntervalMs: 50,
    });
    const events: string[] = [];
    runner.on('throttle', () => events.push('throttle'));
    runner.on('resume', () => events.push('resume'));
    await runner.start();
    expect(events).toEqual(['throttle']);
    const stats = await runner.stats();
    expect(stats.throttle?.paused).toBe(true);
    expect(stats.throttle?.reason).toMatch(/system memory at 90% is above MAX_MEMORY_USAGE_PERCENT 80%/);
    expect((await pipeline.queue.counts()).paused).toBe(true);

    const { task_id } = await pipeline.submit(job('ok-waiting')).catch(async () => {
      // The pipeline's own admission may refuse at 90%: lower the reading for the submit only.
      reading.used = 100 * 1024 * 1024;
      const result = await pipeline!.submit(job('ok-waiting'));
      reading.used = 900 * 1024 * 1024;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await pipeline.getTask(task_id))?.state).toBe('queued');

    reading.used = 300 * 1024 * 1024;
    const record = await pipeline.waitFor(task_id, { timeoutMs: 20_000 });
    expect(record.state).toBe('succeeded');
    expect(events).toEqual(['throttle', 'resume']);
    expect((await runner.stats()).throttle?.paused).toBe(false);
  });

  it('lowers concurrency as memory fills up and raises it again', async () => {
    const reading: SystemMemoryReading = { total: 1000, used: 100, source: 'os' };
    const memoryMonitor = createMemoryMonitor({
      maxMemoryPercent: 80,
      maxConcurrency: 4,
      probe: () => ({ ...reading }),
    });
    pipeline = createPipeline();
    runner = createRunner({ pipeline, concurrency: 4, memoryMonitor, memoryCheckIntervalMs: 60_000 });
    const changes: number[] = [];
    runner.on('concurrency', (event) => changes.push(event.to));
    await runner.start();
    reading.used = 650;
    expect((await runner.checkMemory())?.concurrency).toBe(2);
    expect((await runner.stats()).throttle?.reason).toMatch(/2 of 4 jobs at once/);
    reading.used = 100;
    expect((await runner.checkMemory())?.concurrency).toBe(4);
    expect(changes).toEqual([2, 4]);
  });
});

describe('bounded share of the event loop (maxLoopDelayMs)', () => {
  it('decides: half when late and busy (at least 1), else one more (at most the maximum)', () => {
    expect(decideLoopLimit({ limit: 4, max: 4, delayMs: 12, busy: 0.9, targetMs: 5 })).toBe(2);
    expect(decideLoopLimit({ limit: 1, max: 4, delayMs: 50, busy: 1, targetMs: 5 })).toBe(1);
    expect(decideLoopLimit({ limit: 2, max: 4, delayMs: 5, busy: 0.9, targetMs: 5 })).toBe(3);
    expect(decideLoopLimit({ limit: 4, max: 4, delayMs: 0, busy: 0.9, targetMs: 5 })).toBe(4);
    // Late but mostly idle: the host's scheduler, not the jobs; fewer jobs would not help.
    expect(decideLoopLimit({ limit: 2, max: 4, delayMs: 15, busy: 0.1, targetMs: 5 })).toBe(3);
    // An operator lowered the maximum: the limit follows it down at once.
    expect(decideLoopLimit({ limit: 4, max: 2, delayMs: 1, busy: 0.9, targetMs: 5 })).toBe(2);
    expect(decideLoopLimit({ limit: 4, max: 2, delayMs: 9, busy: 0.9, targetMs: 5 })).toBe(2);
  });

  it('takes fewer jobs at once while the loop lags, and all of them again once it does not', async () => {
    pipeline = createPipeline();
    // A limit well above what a busy host's scheduler adds to an idle loop (up to about 15 ms seen here).
    runner = createRunner({ pipeline, concurrency: 4, maxLoopDelayMs: 40, memoryCheckIntervalMs: 60_000 });
    const changes: { to: number; reason: string | null }[] = [];
    runner.on('concurrency', (event) => changes.push(event));
    await runner.start();
    // Something else on the loop holds it 100 ms at a time (what a burst of synchronous work does).
    const blocker = setInterval(() => {
      const until = performance.now() + 100;
      while (performance.now() < until);
    }, 110);
    try {
      await vi.waitFor(async () => expect((await runner!.stats()).concurrency).toBe(1), { timeout: 10_000 });
    } finally {
      clearInterval(blocker);
    }
    // Halved, not dropped at once: 4 → 2 → 1, each change saying why.
    const down = changes.findIndex((change) => change.to === 1);
    expect(changes[down - 1]?.to).toBe(2);
    expect(changes[down]?.reason).toMatch(
      /event-loop delay \d+\.\d ms \(limit 40 ms\): at most 1 jobs at once/,
    );
    await vi.waitFor(async () => expect((await runner!.stats()).concurrency).toBe(4), { timeout: 10_000 });
    expect(changes.at(-1)?.to).toBe(4);
    const { task_id } = await pipeline.submit(job('ok-after-lag'));
    expect((await pipeline.waitFor(task_id, { timeoutMs: 20_000 })).state).toBe('succeeded');
  });

  it('is off by default: a lagging loop leaves the concurrency alone', async () => {
    pipeline = createPipeline();
    runner = createRunner({ pipeline, concurrency: 4, memoryCheckIntervalMs: 60_000 });
    const changes: number[] = [];
    runner.on('concurrency', (event) => changes.push(event.to));
    await runner.start();
    const until = performance.now() + 600;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(changes).toEqual([]);
    expect((await runner.stats()).concurrency).toBe(4);
  });
});
