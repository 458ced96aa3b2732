import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { afterAll, describe, expect, it } from 'vitest';
import { createSharedPipeline, type SharedSetup } from './fixtures/pipeline-setup.js';

const workerFile = fileURLToPath(new URL('./fixtures/pipeline-worker.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const JOBS = 300;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

function startWorker(setup: SharedSetup): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', workerFile], {
    cwd: repoRoot,
    env: { ...process.env, SETUP: JSON.stringify(setup) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
  return { child, ready };
}

describe('pipeline across processes on Redis + BullMQ', () => {
  it('3 worker processes, one SIGKILLed mid-run: every job is delivered exactly once', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.dispose());
    const base = await mkdtemp(join(tmpdir(), 'ncr-multi-'));
    cleanups.push(() => rm(base, { recursive: true, force: true }));
    const setup: SharedSetup = {
      redisPort: server.port,
      prefix: `t-${randomUUID()}`,
      queueName: `q${randomUUID()}`,
      storageRoot: join(base, 'storage'),
      destinationRoot: join(base, 'delivered'),
      workDir: join(base, 'work'),
      workerId: 'api',
    };
    const jobs = Array.from({ length: JOBS }, (_, index) => ({
      job_id: `job-${index}`,
      username: `user-${index % 7}`,
      campaign: 'spring',
    }));
    for (const job of jobs) {
      const folder = join(setup.storageRoot, job.campaign, job.username, job.job_id);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'a.txt'), `file a of ${job.job_id}\n`);
      // Every tenth job is big (on disk, not in memory), so a worker is surely caught running one.
      const copies = Number(job.job_id.slice(4)) % 10 === 0 ? 300_000 : 50;
      await writeFile(join(folder, 'b.txt'), `file b of ${job.job_id}\n`.repeat(copies));
    }

    const workers = [0, 1, 2].map(() =>
      startWorker({ ...setup, workDir: join(setup.workDir, randomUUID()) }),
    );
    await Promise.all(workers.map((worker) => worker.ready));

    // An API-only process: submits and reads, never consumes.
    const api = createSharedPipeline(setup);
    cleanups.push(async () => {
      await api.close({ timeoutMs: 1000 });
      await api.statusStore.close?.();
    });
    const taskIds: string[] = [];
    for (const job of jobs) taskIds.push((await api.submit(job)).task_id);

    const succeeded = async () => (await api.listTasks({ state: 'succeeded', limit: JOBS })).length;
    const deadline = Date.now() + 30_000;
    while ((await succeeded()) < JOBS / 30 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const victim = workers[0]!.child;
    // Killed while it runs a big job (small ones end in milliseconds).
    const runningBig = async () =>
      (await api.listActive()).some(
        (task) =>
          task.state === 'running' &&
          task.worker === `worker-${victim.pid}` &&
          Number(task.job_id.slice(4)) % 10 === 0,
      );
    while (!(await runningBig()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    victim.kill('SIGKILL');
    await new Promise((resolve) => victim.once('exit', resolve));
    expect(await succeeded()).toBeLessThan(JOBS);
    // What the dead worker was running when it died: BullMQ must hand it to another worker.
    const interrupted = (await api.listActive()).filter(
      (task) => task.state === 'running' && task.worker === `worker-${victim.pid}`,
    );
    expect(interrupted.length).toBeGreaterThan(0);

    for (const taskId of taskIds) {
      const task = await api.waitFor(taskId, { timeoutMs: 90_000 });
      expect({ task: taskId, state: task.state, error: task.error }).toEqual({
        task: taskId,
        state: 'succeeded',
        error: null,
      });
    }

    for (const task of interrupted) {
      const after = await api.getTask(task.task_id);
      expect(after?.state).toBe('succeeded');
      expect(after?.worker).not.toBe(`worker-${victim.pid}`);
    }

    const delivered = (await filesUnder(setup.destinationRoot)).sort();
    expect(delivered).toEqual(jobs.map((job) => `${job.campaign}/${job.username}/${job.job_id}.zip`).sort());
    for (const taskId of taskIds.slice(0, 20)) {
      const task = await api.getTask(taskId);
      const bytes = await readFile(join(setup.destinationRoot, task!.result!.remote_path));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(task!.result!.sha256);
    }
    expect((await api.listActive()).length).toBe(0);
    const counts = await api.queue.counts();
    expect(counts).toMatchObject({ waiting: 0, active: 0 });
  }, 180_000);
});
