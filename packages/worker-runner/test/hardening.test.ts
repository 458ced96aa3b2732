import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createMemoryMonitor, isUploadError, type UploadPipeline } from '@ncr-upload/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, createRunner, loadConfig, maskConfig, type Runner } from '../src/index.js';
import { type CliProcess, freePort, getJson, postJson, runCli, testPipelineModule } from './cli-helpers.js';
import { prepareRunnerDir, tearDownRunner } from './fixtures/runner-sandbox.js';
import { createPipeline } from './fixtures/test-pipeline.js';

const pipelineModule = testPipelineModule;
const none = { envFile: false as const };
let dir: string;
let runner: Runner | undefined;
let pipeline: UploadPipeline | undefined;
const clis: CliProcess[] = [];

beforeEach(async () => {
  dir = await prepareRunnerDir('runner-hardening-');
});
afterEach(async () => {
  for (const cli of clis.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  }
  await tearDownRunner(dir, runner, pipeline);
  runner = undefined;
  pipeline = undefined;
});

const job = (jobId: string) => ({ job_id: jobId, username: 'alice', campaign: 'demo' });

/** True while a process with this pid exists (and is not a zombie of ours). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).startsWith('Z');
  } catch {
    return false;
  }
}

/** The pids of the direct children of `pid`. */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((value) => value > 0);
  } catch {
    return [];
  }
}

function startRunner(options: Omit<Parameters<typeof createRunner>[0], 'pipeline'> = {}) {
  pipeline = createPipeline();
  runner = createRunner({ pipeline, pipelineModule, isolation: 'process', concurrency: 1, ...options });
  return { pipeline, runner };
}

describe('configuration edge cases', () => {
  it('rejects timeouts beyond what a timer can hold, naming each variable', () => {
    // Node fires a timer of more than 2^31-1 ms after 1 ms: such a JOB_TIMEOUT would time out every job at once.
    let error: unknown;
    try {
      loadConfig({ JOB_TIMEOUT: '2500000', SHUTDOWN_TIMEOUT: '1e10', BATCH_TIMEOUT: '3000000' }, none);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = (error as ConfigError).problems.map((problem) => problem.name).sort();
    expect(names).toEqual(['BATCH_TIMEOUT', 'JOB_TIMEOUT', 'SHUTDOWN_TIMEOUT']);
    expect(loadConfig({ JOB_TIMEOUT: '2000000' }, none).worker.jobTimeoutMs).toBe(2_000_000_000);
  });

  it('empty, blank, zero and negative values: blanks mean unset, the rest are reported together', () => {
    const config = loadConfig({ API_PORT: '', WORKER_CONCURRENCY: '   ', REDIS_URL: ' ' }, none);
    expect(config.api.port).toBe(8001);
    expect(config.worker.concurrency).toBe(4);
    expect(config.redis).toBeUndefined();
    let error: unknown;
    try {
      loadConfig(
        {
          WORKER_CONCURRENCY: '0',
          JOB_TIMEOUT: '-1',
          API_PORT: '-80',
          DATABASE_URL: 'mysql//nope',
          SHUTDOWN_TIMEOUT: '0',
        },
        none,
      );
    } catch (caught) {
      error = caught;
    }
    expect((error as ConfigError).problems.map((problem) => problem.name).sort()).toEqual([
      'API_PORT',
      'DATABASE_URL',
      'JOB_TIMEOUT',
      'SHUTDOWN_TIMEOUT',
      'WORKER_CONCURRENCY',
    ]);
    expect(JSON.stringify((error as ConfigError).problems)).not.toContain('mysql//nope');
  });

  it('createRunner refuses timeouts a timer cannot hold', () => {
    const target = createPipeline();
    for (const options of [
      { jobTimeoutMs: 2 ** 31 },
      { shutdownTimeoutMs: 3e9 },
      { memoryCheckIntervalMs: 2 ** 32 },
    ]) {
      let error: unknown;
      try {
        createRunner({ pipeline: target, ...options });
      } catch (caught) {
        error = caught;
      }
      expect(isUploadError(error) && error.code).toBe('CONFIG_INVALID');
    }
  });

  it('maskConfig hides secrets in URL query strings and never shows a secret that looks like a URL', () => {
    const config = loadConfig(
      {
        REDIS_URL: 'redis://cache.internal:6379/0?password=hunter1',
        DATABASE_URL: 'mysql://db.internal:3306/jobs?user=app&password=hunter2',
        DB_PASSWORD: 'https://hunter3.example/also-a-password',
        API_KEY: 'https://hunter4.example',
      },
      none,
    );
    const masked = maskConfig(config);
    const text = JSON.stringify(masked);
    for (const secret of ['hunter1', 'hunter2', 'hunter3', 'hunter4']) expect(text).not.toContain(secret);
    expect(masked.REDIS_URL).toBe('redis://cache.internal:6379/0?***');
    expect(masked.DB_PASSWORD).toBe('***');
    expect(masked.API_KEY).toBe('***');
  });
});

describe('memory admission', () => {
  it('does not flap between pause and resume while memory hovers at the threshold', async () => {
    const reading = { total: 1000, used: 810, source: 'os' as const };
    const memoryMonitor = createMemoryMonitor({ maxMemoryPercent: 80, probe: () => ({ ...reading }) });
    pipeline = createPipeline();
    runner = createRunner({ pipeline, memoryMonitor, maxMemoryPercent: 80, memoryCheckIntervalMs: 60_000 });
    const events: string[] = [];
    runner.on('throttle', () => events.push('throttle'));
    runner.on('resume', () => events.push('resume'));
    await runner.start();
    for (const used of [795, 810, 799, 805, 790]) {
      reading.used = used;
      await runner.checkMemory();
    }
    expect(events).toEqual(['throttle']);
    expect((await runner.stats()).throttle?.reason).toMatch(/not yet at or below 78%/);
    reading.used = 780;
    expect((await runner.checkMemory())?.paused).toBe(false);
    expect(events).toEqual(['throttle', 'resume']);
    expect((await pipeline.queue.counts()).paused).toBe(false);
  });
});

describe('CLI arguments', () => {
  it('keeps every "=" of --api-key=<key> (base64 keys end in "=")', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers['x-api-key'] as string | undefined);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ task_id: 't-1', state: 'succeeded', stage: null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const cli = runCli(
        ['status', 't-1', '--api-key=c2VjcmV0LWtleQ==', `--url=http://127.0.0.1:${port}/?a=b`],
        {
          cwd: dir,
        },
      );
      clis.push(cli);
      expect((await cli.exited).code).toBe(0);
      expect(seen).toEqual(['c2VjcmV0LWtleQ==']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('child processes', () => {
  it('a rolling restart while a child is still starting does not fail the job it was taken for', async () => {
    const { pipeline, runner } = startRunner();
    await runner.start();
    const crashes: unknown[] = [];
    runner.on('child-exit', (event) => {
      if (!event.expected) crashes.push(event);
    });
    const { task_id } = await pipeline.submit(job('ok-starting'));
    // The child is forked but has not said `ready` yet (loading its pipeline takes a while).
    await vi.waitFor(async () => expect((await runner.stats()).children).toHaveLength(1), { interval: 5 });
    const [starting] = (await runner.stats()).children;
    expect(starting?.task_id).toBeNull();
    await runner.restartChildren();
    const record = await pipeline.waitFor(task_id, { timeoutMs: 30_000 });
    expect(record.state).toBe('succeeded');
    expect((await runner.stats()).crashes).toBe(0);
    expect(crashes).toEqual([]);
    expect(alive(starting?.pid as number)).toBe(false);
  });

  it('a forged `done` for another task does not end the running job early', async () => {
    const { pipeline, runner } = startRunner();
    await runner.start();
    const ended: { task_id: string; state: string | undefined }[] = [];
    runner.on('job-end', (event) => {
      void pipeline
        .getTask(event.task_id)
        .then((record) => ended.push({ task_id: event.task_id, state: record?.state }));
    });
    const forged = await pipeline.submit(job('forge-1'));
    const next = await pipeline.submit(job('ok-after-forge'));
    const records = await Promise.all(
      [forged, next].map((entry) => pipeline.waitFor(entry.task_id, { timeoutMs: 30_000 })),
    );
    expect(records.map((record) => record.state)).toEqual(['succeeded', 'succeeded']);
    await vi.waitFor(() => expect(ended).toHaveLength(2));
    // job-end comes after the job's record is final, never while it still runs.
    expect(ended.map((entry) => entry.state)).toEqual(['succeeded', 'succeeded']);
    expect((await runner.stats()).children.map((child) => child.tasks_done)).toEqual([2]);
  });

  it('stop() while a child is starting leaves no child process behind', async () => {
    const { pipeline, runner: target } = startRunner({ concurrency: 2 });
    await target.start();
    await pipeline.submit(job('ok-s1'));
    await pipeline.submit(job('ok-s2'));
    await vi.waitFor(async () => expect((await target.stats()).children).toHaveLength(2), { interval: 5 });
    const pids = (await target.stats()).children.map((child) => child.pid as number);
    await target.stop({ timeoutMs: 5000 });
    runner = undefined;
    expect(pids.filter(alive)).toEqual([]);
    expect((await target.stats()).children).toEqual([]);
  });

  it('no orphans: children exit after SIGTERM of the CLI and after the CLI is killed outright', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const port = await freePort();
      const cli = runCli(['serve'], {
        cwd: dir,
        env: {
          API_PORT: String(port),
          DATA_DIR: join(dir, 'data'),
          PIPELINE_MODULE: testPipelineModule,
          TEST_OUTBOX: join(dir, 'outbox'),
          WORKER_ISOLATION: 'process',
          WORKER_CONCURRENCY: '2',
          SHUTDOWN_TIMEOUT: '1',
        },
      });
      clis.push(cli);
      await cli.waitFor(/Dashboard/);
      const api = `http://127.0.0.1:${port}`;
      await postJson(`${api}/process-job`, job(`slow-20000-${signal}`));
      await postJson(`${api}/process-job`, job(`ok-${signal}`));
      await vi.waitFor(
        async () => {
          const active = await getJson<{ jobs: { state: string }[] }>(`${api}/jobs/active`);
          expect(active.jobs.some((task) => task.state === 'running')).toBe(true);
        },
        { timeout: 30_000, interval: 50 },
      );
      const pids = childPids(cli.child.pid as number);
      expect(pids.length).toBeGreaterThan(0);
      cli.child.kill(signal);
      await cli.exited;
      await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]), { timeout: 15_000, interval: 100 });
    }
  });
});
