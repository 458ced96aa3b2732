import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TaskEvent, TaskRecord } from '@ncr-upload/core';
import { type RedisServerHandle, startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import {
  createStageKillPipeline,
  createStagePorts,
  KILL_STAGES,
  type KillStage,
  MARKER,
  STAGE_KILL_FILE_SIZE,
  STAGE_KILL_FILES,
  STALLED_FILE,
  type StageKillSetup,
} from './fixtures/stage-kill-setup.js';

const workerFile = fileURLToPath(new URL('./fixtures/stage-kill-worker.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const cleanups: (() => Promise<unknown>)[] = [];
let server: RedisServerHandle;
let base: string;

beforeAll(async () => {
  server = await startRedisServer();
  cleanups.push(() => server.dispose());
  base = await mkdtemp(join(tmpdir(), 'ncr-stage-kill-'));
  cleanups.push(() => rm(base, { recursive: true, force: true }));
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function until<T>(read: () => Promise<T>, accept: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sizeOf = (path: string) =>
  stat(path).then(
    (info) => info.size,
    () => -1,
  );

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/** Every entry of a zip: name → sha256 of its content. */
function zipEntries(path: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const entries: Record<string, string> = {};
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, async (streamError, stream) => {
          if (streamError || !stream) return reject(streamError);
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          entries[entry.fileName] = sha256(Buffer.concat(chunks));
          zip.readEntry();
        });
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** Worker A: a child process that holds in `stage` and says so on stdout. */
function startWorkerA(setup: StageKillSetup) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', workerFile], {
    cwd: repoRoot,
    env: { ...process.env, SETUP: JSON.stringify(setup) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  const lines: string[] = [];
  const seen = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => lines.some((line) => line === text) && resolve();
      child.stdout?.on('data', check);
      void exited.then((how) => reject(new Error(`worker A exited (${how}) before "${text}"`)));
      check();
    });
  let buffered = '';
  child.stdout?.prependListener('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { child, exited, lines, ready: seen('ready'), reached: seen(`${MARKER} ${setup.stage}`) };
}

describe.each([
  { overlap: true, mode: 'upload overlapping validation' },
  { overlap: false, mode: 'upload after validation' },
])(
  'kill -9 at any stage ($mode): nothing lost, nothing duplicated, no partial file under a final name',
  ({ overlap }) => {
    it.each(KILL_STAGES)(
      'worker A is SIGKILLed in %s; worker B recovers the task',
      async (stage: KillStage) => {
        const caseDir = join(base, `${overlap ? 'overlap' : 'after'}-${stage}`);
        const setup: StageKillSetup = {
          redisPort: server.port,
          prefix: `sk-${randomUUID()}`,
          queueName: `q${randomUUID()}`,
          storageRoot: join(caseDir, 'storage'),
          destinationRoot: join(caseDir, 'delivered'),
          // One workDir for both workers: B's start() must sweep what A left.
          workDir: join(caseDir, 'work'),
          workerId: 'worker-b',
          staleTempMs: 0,
          deliveryOverlap: overlap,
        };
        const job = { job_id: `job-${stage}`, username: 'alice', campaign: 'spring' };
        const jobPath = `${job.campaign}/${job.username}/${job.job_id}`;
        const sources: Record<string, string> = {};
        await mkdir(join(setup.storageRoot, jobPath), { recursive: true });
        for (const name of STAGE_KILL_FILES) {
          const bytes = randomBytes(STAGE_KILL_FILE_SIZE);
          await writeFile(join(setup.storageRoot, jobPath, name), bytes);
          sources[`${jobPath}/${name}`] = sha256(bytes);
        }

        // Every task change, as published by any process.
        const subscriber = new Redis(server.port, '127.0.0.1');
        cleanups.push(() => subscriber.quit());
        const events: TaskEvent[] = [];
        subscriber.on('message', (_channel: string, raw: string) => {
          events.push((JSON.parse(raw) as { event: TaskEvent }).event);
        });
        await subscriber.subscribe(`{${setup.prefix}}:events`);

        const workerA = startWorkerA({ ...setup, workerId: 'worker-a', staleTempMs: undefined, stage });
        await workerA.ready;
        // In this process: first only an API (submits, reads), later worker B.
        const pipeline = createStageKillPipeline(setup, createStagePorts(setup));
        cleanups.push(() => pipeline.close({ timeoutMs: 1000 }));
        const { task_id: taskId } = await pipeline.submit(job);
        await workerA.reached;

        const taskDir = join(setup.workDir, `task-${taskId}`);
        const local = (name: string) => join(taskDir, 'files', jobPath, name);
        const archive = join(taskDir, 'archive.zip');
        const final = join(setup.destinationRoot, `${jobPath}.zip`);
        const atKill = await until(
          () => pipeline.getTask(taskId),
          (task) => task?.stage === stage,
          `stage ${stage} in the status store`,
        );
        expect(atKill).toMatchObject({ state: 'running', stage, worker: 'worker-a', attempts: 1 });
        // What the task's temp folder (and the destination) hold when A dies.
        let leftArchiveSha: string | null = null;
        // The task folder is made after layout, once the job's size sends it down the disk path.
        if (stage === 'resolve') expect(existsSync(taskDir)).toBe(false);
        if (stage === 'fetch') {
          await until(
            () => sizeOf(local(STALLED_FILE)),
            (size) => size === STAGE_KILL_FILE_SIZE / 2,
            'half',
          );
          expect(existsSync(archive)).toBe(true);
        }
        if (stage === 'archive') {
          for (const name of STAGE_KILL_FILES) expect(await sizeOf(local(name))).toBe(STAGE_KILL_FILE_SIZE);
          const size = await until(
            () => sizeOf(archive),
            (bytes) => bytes > 4 * STAGE_KILL_FILE_SIZE,
            'zip',
          );
          expect(size).toBeLessThan(5 * STAGE_KILL_FILE_SIZE);
        }
        if (stage === 'validate' || stage === 'deliver') leftArchiveSha = sha256(await readFile(archive));
        let partialSize = -1;
        if (stage === 'deliver') {
          const archiveSize = await sizeOf(archive);
          partialSize = await until(
            () => sizeOf(`${final}.partial`),
            (size) => size === Math.floor(archiveSize / 2),
            'a half-written .partial',
          );
          expect(partialSize).toBeGreaterThan(0);
        }
        expect(existsSync(final)).toBe(false);

        workerA.child.kill('SIGKILL');
        expect(await workerA.exited).toBe('SIGKILL');
        expect(existsSync(taskDir)).toBe(stage !== 'resolve');
        if (stage === 'deliver') expect(await sizeOf(`${final}.partial`)).toBe(partialSize);
        expect((await pipeline.getTask(taskId))?.state).toBe('running');

        // Worker B: its start() sweeps the dead worker's task folder (staleTempMs 0), before
        // BullMQ can hand it the job (A's lock lasts until ~1 s after the kill).
        await pipeline.start();
        expect(existsSync(taskDir)).toBe(false);
        const done = await pipeline.waitFor(taskId, { timeoutMs: 20_000 });
        expect(done).toMatchObject({ state: 'succeeded', worker: 'worker-b', attempts: 2, error: null });
        expect(done.result).toMatchObject({ remote_path: `${jobPath}.zip`, files: STAGE_KILL_FILES.length });

        // Let the queue settle and a few stall checks pass: nothing may run the task again.
        await until(
          () => pipeline.queue.counts(),
          (counts) => counts.waiting + counts.active + counts.delayed === 0,
          'an idle queue',
        );
        const delivered = await stat(final);
        await new Promise((resolve) => setTimeout(resolve, 1500));

        const after = (await pipeline.getTask(taskId)) as TaskRecord;
        expect(after).toMatchObject({
          state: 'succeeded',
          stage: 'cleanup',
          attempts: 2,
          finished_at: done.finished_at,
          progress: { percent: 100 },
        });
        const mine = events.filter((event) => event.task_id === taskId);
        expect(mine.filter((event) => event.state === 'succeeded')).toHaveLength(1);
        const states = mine.map((event) => event.state).filter((state, i, all) => state !== all[i - 1]);
        expect(states).toEqual(['queued', 'running', 'succeeded']);
        expect(await pipeline.listTasks({ job_id: job.job_id })).toHaveLength(1);

        // Exactly one complete file under the final name, nothing else at the destination.
        expect(await filesUnder(setup.destinationRoot)).toEqual([`${jobPath}.zip`]);
        expect((await stat(final)).mtimeMs).toBe(delivered.mtimeMs);
        const bytes = await readFile(final);
        expect({ size: bytes.length, sha256: sha256(bytes) }).toEqual({
          size: done.result?.size,
          sha256: done.result?.sha256,
        });
        if (leftArchiveSha) expect(leftArchiveSha).toBe(done.result?.sha256);
        expect(await zipEntries(final)).toEqual(sources);
        await run('unzip', ['-tq', final]);
        // No temp folder left by either worker.
        expect(await readdir(setup.workDir)).toEqual([]);
        await pipeline.close({ timeoutMs: 1000 });
      },
      30_000,
    );
  },
);
