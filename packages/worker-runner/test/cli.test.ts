import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@ncr-upload/core/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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

let dir: string;
const running: CliProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-test-'));
});
afterEach(async () => {
  await killAll(running);
  await rm(dir, { recursive: true, force: true });
});

function serve(env: Record<string, string>): CliProcess {
  const cli = runCli(['serve'], {
    cwd: dir,
    env: { DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'info', ...env },
  });
  running.push(cli);
  return cli;
}

const job = (jobId: string) => ({ job_id: jobId, username: 'alice', campaign: 'demo' });

describe('ncr-upload CLI', () => {
  it('exits 1 on bad configuration, listing every bad variable', async () => {
    const cli = runCli(['serve'], {
      cwd: dir,
      env: {
        API_PORT: 'x',
        MAX_MEMORY_USAGE_PERCENT: '101',
        WORKER_ISOLATION: 'threads',
        S3_SECRET_ACCESS_KEY: 'shh-secret',
        BATCH_SIZE: '0',
      },
    });
    const { code } = await cli.exited;
    expect(code).toBe(1);
    const stderr = cli.stderr();
    expect(stderr).toMatch(/invalid configuration \(6 problems\)/);
    for (const name of [
      'API_PORT',
      'MAX_MEMORY_USAGE_PERCENT',
      'WORKER_ISOLATION',
      'S3_BUCKET',
      'S3_ACCESS_KEY_ID',
      'BATCH_SIZE',
    ]) {
      expect(stderr).toContain(`  ${name}: `);
    }
    expect(stderr).not.toContain('shh-secret');
  });

  it('config prints the effective configuration with secrets masked', async () => {
    const cli = runCli(['config'], {
      cwd: dir,
      env: { API_KEY: 'super-secret-key', WORKER_CONCURRENCY: '3' },
    });
    expect((await cli.exited).code).toBe(0);
    const printed = JSON.parse(cli.output()) as Record<string, unknown>;
    expect(printed.API_KEY).toBe('***');
    expect(printed.WORKER_CONCURRENCY).toBe(3);
    expect(cli.output()).not.toContain('super-secret-key');
  });

  it('config makes the checks serve makes: a malformed host fingerprint fails both the same way', async () => {
    const env = {
      SFTP_HOST: '127.0.0.1',
      SFTP_USERNAME: 'u',
      SFTP_PASSWORD: 'p',
      SFTP_HOST_FINGERPRINT: 'not-a-fingerprint',
      SAMPLE_JOB: 'no',
    };
    const config = runCli(['config'], { cwd: dir, env });
    const served = runCli(['serve'], {
      cwd: dir,
      env: { ...env, API_PORT: '0', DATA_DIR: join(dir, 'data') },
    });
    running.push(served);
    expect((await config.exited).code).toBe(1);
    expect((await served.exited).code).toBe(1);
    expect(config.stderr()).toContain('hostFingerprint must look like "SHA256:');
    expect(config.stderr()).toBe(served.stderr());
    expect(config.output()).toBe('');
  });

  it('SIGTERM lets a request in flight finish: the listener closes first, its connection is not cut', async () => {
    const port = await freePort();
    const server = serve({ API_PORT: String(port), SAMPLE_JOB: 'no' });
    await server.waitFor(/Dashboard +\S+/);
    // Headers and part of the body now, the rest once the server no longer accepts connections.
    const late = await startSubmission(port, job('in-flight'));
    server.child.kill('SIGTERM');
    await server.waitFor(/SIGTERM received: draining/);
    await waitFor(async () => !(await accepts(port)), { message: 'the listener did not close' });
    const answer = await late.finish();
    expect(answer.status === 200 || answer.status === 503).toBe(true);
    expect((await server.exited).code).toBe(0);
  });

  it('SIGTERM during startup (api: the banner out, Redis not yet answering) drains and exits 0 instead of killing', async () => {
    const port = await freePort();
    // Nothing listens there: after the banner, startup waits up to 1.5 s for Redis to answer.
    const redisPort = await freePort();
    const server = runCli(['api'], {
      cwd: dir,
      env: {
        DATA_DIR: join(dir, 'data'),
        API_PORT: String(port),
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      },
    });
    running.push(server);
    await server.waitFor(/Dashboard +\S+/);
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(server.output()).toMatch(/SIGTERM received: draining/);
    expect(exit.code).toBe(0);
  });

  it('a rejection left unhandled by a connection closed while stopping is reported, masked, and the exit stays 0', async () => {
    const port = await freePort();
    const server = serve({
      API_PORT: String(port),
      PIPELINE_MODULE: fileURLToPath(new URL('./fixtures/test-pipeline-stray-rejection.ts', import.meta.url)),
      TEST_OUTBOX: join(dir, 'outbox'),
    });
    await server.waitFor(/Dashboard/);
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(server.stderr()).toMatch(
      /while stopping, a rejection no one handled \(reported, not fatal\): Error: Connection is closed \(redis:\/\/\*\*\*@127\.0\.0\.1:6399\/0\)/,
    );
    expect(server.stderr()).not.toContain('s3cret-word');
    expect(exit.code).toBe(0);
  });

  it('submit --wait reaches success against serve on embedded defaults', async () => {
    const port = await freePort();
    const server = serve({ API_PORT: String(port), LOG_LEVEL: 'warn' });
    const banner = await server.waitFor(/Dashboard +(\S+)/);
    expect(banner[1]).toBe(`http://127.0.0.1:${port}/dashboard`);
    expect(server.output()).toMatch(/Storage +folder \(embedded\)/);
    expect(server.output()).toMatch(/Docs +http:\/\/127\.0\.0\.1:\d+\/docs/);
    expect(server.output()).toContain(`outbox: ${join(dir, 'data', 'outbox')}`);
    // On embedded defaults serve runs the sample job once by itself and says where the zip went.
    const sample = await server.waitFor(/Sample job succeeded: (\S+)/);
    expect(sample[1]).toBe(join(dir, 'data', 'outbox', 'demo', 'alice', 'sample-job.zip'));
    // Progress lines are coalesced (at most one write per interval), so only the end is certain.
    expect(server.output()).toMatch(/succeeded 100%/);
    const submit = runCli(['submit', '-', '--wait', '--url', `http://127.0.0.1:${port}`], {
      cwd: dir,
      stdin: JSON.stringify({ job_id: 'sample-job', username: 'alice', campaign: 'demo', row_id: 1 }),
    });
    const { code } = await submit.exited;
    expect(submit.stderr()).toBe('');
    expect(code).toBe(0);
    expect(submit.output()).toMatch(/succeeded: delivered demo\/alice\/sample-job\.zip/);
    expect(existsSync(join(dir, 'data', 'outbox', 'demo', 'alice', 'sample-job.zip'))).toBe(true);

    const status = runCli(
      [
        'status',
        submit.output().match(/task (\S+) queued/)?.[1] ?? 'missing',
        '--url',
        `http://127.0.0.1:${port}`,
      ],
      { cwd: dir },
    );
    expect((await status.exited).code).toBe(0);
    expect(JSON.parse(status.output()).state).toBe('succeeded');

    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('--env-file reaches the worker processes with WORKER_ISOLATION=process', async () => {
    const port = await freePort();
    const dataDir = join(dir, 'from-env-file');
    await mkdir(join(dir, 'conf'));
    const envFile = join(dir, 'conf', 'app.env');
    await writeFile(
      envFile,
      `API_PORT=${port}\nDATA_DIR=${dataDir}\nWORKER_ISOLATION=process\nWORKER_CONCURRENCY=1\nLOG_LEVEL=warn\n`,
    );
    // Only the env file says where the data is: a child that ignored it would look in ./data and find no files.
    const cli = runCli(['serve', '--env-file', envFile], { cwd: dir });
    running.push(cli);
    const sample = await cli.waitFor(/Sample job (succeeded|failed)[^\n]*/, 60_000);
    expect(sample[0]).toContain(
      `Sample job succeeded: ${join(dataDir, 'outbox', 'demo', 'alice', 'sample-job.zip')} (`,
    );
    // The task names the worker that took it (this process, the one the console lists), not its child.
    const tasks = await getJson<{ items: { worker: string | null }[] }>(`http://127.0.0.1:${port}/tasks`);
    expect(tasks.items.map((task) => task.worker)).toEqual([expect.stringMatching(`:${cli.child.pid}$`)]);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('SIGTERM: running jobs finish, waiting ones are not started, exit 0', async () => {
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const outbox = join(dir, 'outbox');
    const server = serve({
      API_PORT: String(port),
      PIPELINE_MODULE: testPipelineModule,
      TEST_OUTBOX: outbox,
      WORKER_CONCURRENCY: '2',
      SHUTDOWN_TIMEOUT: '30',
    });
    await server.waitFor(/Dashboard/);
    for (const id of ['slow-1500-a', 'slow-1500-b', 'ok-c', 'ok-d', 'ok-e'])
      await postJson(`${api}/process-job`, job(id));
    // Both slots are busy.
    for (;;) {
      const active = await getJson<{ jobs: { state: string }[] }>(`${api}/jobs/active`);
      if (active.jobs.filter((task) => task.state === 'running').length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.output()).toContain('SIGTERM received: draining');
    expect(server.output()).toContain('stopped 2 job(s) were running: 2 finished, 0 handed back');
    expect((await readdir(join(outbox, 'demo', 'alice'))).sort()).toEqual([
      'slow-1500-a.zip',
      'slow-1500-b.zip',
    ]);
  });

  it('SIGTERM past SHUTDOWN_TIMEOUT hands running jobs back and still exits 0', async () => {
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const server = serve({
      API_PORT: String(port),
      PIPELINE_MODULE: testPipelineModule,
      TEST_OUTBOX: join(dir, 'outbox'),
      WORKER_CONCURRENCY: '1',
      SHUTDOWN_TIMEOUT: '0.5',
    });
    await server.waitFor(/Dashboard/);
    const { task_id } = await postJson(`${api}/process-job`, job('slow-20000-long'));
    for (;;) {
      const task = await getJson<{ state: string }>(`${api}/job-status/${task_id}`);
      if (task.state === 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.output()).toContain('stopped 1 job(s) were running: 0 finished, 1 handed back');
  });

  it('SIGHUP restarts every worker process, one by one, without losing a job', async () => {
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const server = serve({
      API_PORT: String(port),
      PIPELINE_MODULE: testPipelineModule,
      TEST_OUTBOX: join(dir, 'outbox'),
      WORKER_CONCURRENCY: '2',
      WORKER_ISOLATION: 'process',
    });
    await server.waitFor(/Dashboard/);
    const ids = ['slow-3000-a', 'slow-3000-b', 'ok-c', 'ok-d', 'slow-500-e', 'ok-f'];
    const tasks: string[] = [];
    for (const id of ids) tasks.push((await postJson(`${api}/process-job`, job(id))).task_id);
    // Wait until the two slow jobs run in their child processes.
    await vi.waitFor(
      async () => {
        const active = await getJson<{ jobs: { state: string }[] }>(`${api}/jobs/active`);
        expect(active.jobs.filter((task) => task.state === 'running').length).toBe(2);
      },
      { timeout: 30_000, interval: 50 },
    );
    server.child.kill('SIGHUP');
    await server.waitFor(/rolling restart of worker processes/);
    const states: string[] = [];
    for (const taskId of tasks) {
      for (;;) {
        const task = await getJson<{ state: string }>(`${api}/job-status/${taskId}`);
        if (['succeeded', 'failed', 'rejected', 'cancelled'].includes(task.state)) {
          states.push(task.state);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect(states).toEqual(Array(ids.length).fill('succeeded'));
    const recycled =
      server.output().match(/"reason":"rolling restart"[^\n]*"msg":"recycling worker process"/g) ?? [];
    expect(recycled.length).toBeGreaterThanOrEqual(1);
    expect((await readdir(join(dir, 'outbox', 'demo', 'alice'))).length).toBe(ids.length);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});

/** True while something accepts TCP connections on the port. */
