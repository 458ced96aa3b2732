import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@ncr-upload/test-kit/net';
import { afterAll, expect, it } from 'vitest';

const server = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it('serves the host app with the upload API under /uploads, runs a job and drains on SIGTERM', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ncr-embed-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', server], {
    // API_HOST is honoured and the address printed is the one it listens on.
    env: {
      ...process.env,
      PORT: String(port),
      API_HOST: '127.0.0.2',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  for (let tries = 0; tries < 300 && !output.includes('host app on'); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(output).toContain(`host app on http://127.0.0.2:${port}`);
  const base = `http://127.0.0.2:${port}`;
  expect(((await (await fetch(`${base}/`)).json()) as { uploads: string }).uploads).toBe('/uploads');
  const submitted = await fetch(`${base}/uploads/process-job`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ job_id: 'sample-job', username: 'alice', campaign: 'demo' }),
  });
  expect(submitted.status).toBe(200);
  const { task_id } = (await submitted.json()) as { task_id: string };
  let state = '';
  for (let tries = 0; tries < 300 && state !== 'succeeded' && state !== 'failed'; tries += 1) {
    state = ((await (await fetch(`${base}/uploads/job-status/${task_id}`)).json()) as { state: string })
      .state;
    if (state !== 'succeeded') await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(state).toBe('succeeded');
  expect(existsSync(join(dataDir, 'outbox', 'demo', 'alice', 'sample-job.zip'))).toBe(true);
  child.kill('SIGTERM');
  await once(child, 'exit');
  expect(output).toMatch(/stopped/);
});
