import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ncr-standalone-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

it('runs the sample job in a child process and stops cleanly', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, EXAMPLE_DATA_DIR: dataDir, KEEP_RUNNING: '' },
    timeout: 120_000,
  });
  expect(stdout).toMatch(/sample-job: succeeded/);
  expect(stdout).toMatch(/in_flight/);
  expect(existsSync(join(dataDir, 'outbox', 'demo', 'alice', 'sample-job.zip'))).toBe(true);
});
