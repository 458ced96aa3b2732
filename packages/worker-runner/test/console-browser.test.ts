import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServerHandle, startRedisServer } from '@ncr-upload/test-kit/redis-server';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keepOffline, launchBrowser } from '../../express-adapter/test/helpers.js';
import { type CliProcess, freePort, runCli } from './cli-helpers.js';

/**
 * The operations console in a real browser against real processes: one `api`
 * and two `worker` processes of the CLI on a private redis-server, about 100
 * tasks in mixed states. Every view is opened, its figures are compared with
 * the API, a task's detail is opened, workers are paused, resumed and given
 * another concurrency from the page. Screenshots go to CONSOLE_SCREENSHOTS
 * (the docs' images) or a temp folder.
 */
const KEY = 'console-test-key';
const headers = { 'X-API-Key': KEY, 'content-type': 'application/json' };
const HOSTILE_JOB = '<img src=x onerror=alert(1)>';
const HOSTILE_USER = '<svg onload=alert(2)>';
const timeout = 60_000;
const wait = { timeout, interval: 100 };

let redis: RedisServerHandle;
let dir: string;
let shots: string;
let base: string;
let browser: Browser;
let page: Page;
const processes: CliProcess[] = [];
const outside: string[] = [];
const dialogs: string[] = [];

// biome-ignore lint/suspicious/noExplicitAny: API bodies are checked field by field
async function api(path: string, init: RequestInit = {}): Promise<any> {
  const response = await fetch(`${base}${path}`, { ...init, headers });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const post = (path: string, body: unknown) => api(path, { method: 'POST', body: JSON.stringify(body) });
const job = (job_id: string, username = 'ana') => ({ job_id, username, campaign: 'spring' });

async function addFiles(jobId: string, username = 'ana') {
  const folder = join(dir, 'data', 'storage', 'spring', username, jobId);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'a.txt'), `${jobId}\n`.repeat(200));
}

async function waitTerminal(taskIds: string[]) {
  await vi.waitFor(async () => {
    const page = await api(`/tasks?state=queued,running,retrying&limit=500`);
    const open = page.items.filter((task: { task_id: string }) => taskIds.includes(task.task_id));
    expect(open).toEqual([]);
  }, wait);
}

async function submitAll(jobs: { job_id: string; username: string; campaign: string }[]) {
  const ids: string[] = [];
  for (const entry of jobs) ids.push((await post('/process-job', entry)).task_id);
  return ids;
}

const shot = (name: string) => page.screenshot({ path: join(shots, `console-${name}.png`) });
const view = async (path: string) => {
  await page.goto(`${base}/dashboard${path}`);
  await page.locator('#state').filter({ hasText: 'live' }).waitFor();
};

describe('operations console, two workers on Redis', () => {
  let workers: { id: string; cli: CliProcess }[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'console-e2e-'));
    shots = process.env.CONSOLE_SCREENSHOTS ?? join(dir, 'shots');
    await mkdir(shots, { recursive: true });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      REDIS_URL: redis.url,
      DATA_DIR: join(dir, 'data'),
      API_PORT: String(port),
      API_KEY: KEY,
      LOG_LEVEL: 'warn',
      WORKER_CONCURRENCY: '2',
      SHUTDOWN_TIMEOUT: '10',
    };
    const start = (command: string) => {
      const cli = runCli([command], { cwd: dir, env });
      processes.push(cli);
      return cli;
    };
    const apiProcess = start('api');
    const first = start('worker');
    const second = start('worker');
    await apiProcess.waitFor(/Dashboard/, timeout);
    await first.waitFor(/ncr-upload worker:/, timeout);
    await second.waitFor(/ncr-upload worker:/, timeout);
    await vi.waitFor(async () => expect((await api('/workers')).online).toBe(2), wait);
    const list = (await api('/workers')).workers as { id: string; pid: number }[];
    workers = [first, second].map((cli) => ({
      cli,
      id: (list.find((worker) => worker.pid === cli.child.pid) as { id: string }).id,
    }));

    // About 100 tasks: 60 succeed, 20 fail (no files), a batch of 8, a hostile one that fails.
    const ok = Array.from({ length: 60 }, (_, i) => job(`ok-${i}`, ['ana', 'bob', 'carl'][i % 3]));
    for (const entry of ok) await addFiles(entry.job_id, entry.username);
    const missing = Array.from({ length: 20 }, (_, i) => job(`missing-${i}`, 'dora'));
    const batchJobs = Array.from({ length: 8 }, (_, i) => job(`batch-${i}`, 'eve'));
    for (const entry of batchJobs) await addFiles(entry.job_id, entry.username);
    const ids = await submitAll([...ok, ...missing, job(HOSTILE_JOB, HOSTILE_USER)]);
    const batch = await post('/process-batch', batchJobs);
    await waitTerminal([...ids, ...batch.task_ids]);

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(timeout);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await keepOffline(page, outside);
    await page.goto(`${base}/dashboard`);
    await page.fill('#key', KEY);
    await page.click('#key-form button');
    await page.locator('#state').filter({ hasText: 'live' }).waitFor();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    for (const cli of processes) {
      if (cli.child.exitCode === null && cli.child.signalCode === null) {
        cli.child.kill('SIGKILL');
        await cli.exited;
      }
    }
    await redis?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists, sorts, filters and searches tasks with the figures of the API', {
    timeout: 120_000,
  }, async () => {
    await view('/tasks');
    const total = page.locator('#task-total');
    await expect
      .poll(() => total.getAttribute('data-total'), wait)
      .toBe(String((await api('/tasks?limit=1')).total));
    expect(Number(await total.getAttribute('data-total'))).toBeGreaterThanOrEqual(89);
    await shot('tasks');

    await page.selectOption('#task-filter select[name="state"]', 'failed');
    await page.click('#task-filter button[type="submit"]');
    const failed = (await api('/tasks?state=failed&limit=1')).total;
    expect(failed).toBe(21);
    await expect.poll(() => total.getAttribute('data-total'), wait).toBe(String(failed));
    expect(new URL(page.url()).searchParams.get('state')).toBe('failed');
    await expect.poll(() => page.locator('#task-rows tr[data-state="failed"]').count(), wait).toBe(21);

    await page.selectOption('#task-filter select[name="state"]', '');
    await page.fill('#task-filter input[name="q"]', 'BOB');
    await page.click('#task-filter button[type="submit"]');
    await expect
      .poll(() => total.getAttribute('data-total'), wait)
      .toBe(String((await api('/tasks?q=bob')).total));
    expect(await total.getAttribute('data-total')).toBe('20');

    await page.fill('#task-filter input[name="q"]', '');
    await page.click('#task-filter button[type="submit"]');
    await page.click('th[data-sort="size"]');
    const largest = (await api('/tasks?sort=size&order=desc&limit=1')).items[0];
    await expect
      .poll(() => page.locator('#task-rows tr').first().getAttribute('data-task-id'), wait)
      .toBe(largest.task_id);

    // Hostile job id, username and error message are text on the page, never markup.
    await page.fill('#task-filter input[name="q"]', '<img');
    await page.click('#task-filter button[type="submit"]');
    const hostileRow = page.locator('#task-rows tr').first();
    await expect.poll(() => hostileRow.textContent(), wait).toContain(HOSTILE_JOB);
    expect(await hostileRow.textContent()).toContain(HOSTILE_USER);
    await hostileRow.locator('a').click();
    await page.locator('#task-error').waitFor();
    const hostile = await api(`/tasks/${await page.locator('#view').getAttribute('data-task-id')}`);
    expect(await page.locator('#task-error').textContent()).toContain(hostile.task.error.message);
    expect(await page.locator('#task-request').textContent()).toContain(HOSTILE_USER);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('svg[onload]').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('shows a task at its own URL: request, timeline of every stage, worker, result', {
    timeout: 60_000,
  }, async () => {
    const task = (await api('/tasks?state=succeeded&q=ok-1&sort=job_id&order=asc&limit=1')).items[0];
    await view('/tasks');
    await page.fill('#task-filter input[name="q"]', task.job_id);
    await page.click('#task-filter button[type="submit"]');
    await page.locator(`#task-rows tr[data-task-id="${task.task_id}"] a`).click();
    await page.waitForURL(`**/dashboard/tasks/${task.task_id}`);
    await page.locator('#task-result').waitFor();
    const detail = await api(`/tasks/${task.task_id}`);
    expect(await page.locator('#task-result').textContent()).toContain(detail.task.result.remote_path);
    expect(await page.locator('#task-result').textContent()).toContain(detail.task.result.sha256);
    expect(await page.locator('#task-status').textContent()).toContain(detail.task.worker);
    const stages = await page
      .locator('#timeline tr[data-stage]')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-stage')));
    expect(stages).toEqual(detail.timeline.map((span: { stage: string | null }) => span.stage ?? ''));
    // Stage writes are coalesced (one per progressIntervalMs): a tiny job records some of its stages.
    expect(stages[0]).toBe('queue');
    expect(stages).toEqual(expect.arrayContaining(['resolve', 'cleanup']));
    await shot('task');
    // The page reloads at its own URL.
    await page.reload();
    await page.locator('#task-result').waitFor();
  });

  it('pauses a worker from the page: it takes no job until resumed; concurrency changes live', {
    timeout: 180_000,
  }, async () => {
    const [a, b] = workers as unknown as [{ id: string }, { id: string }];
    await view('/workers');
    const row = (id: string) => page.locator(`#worker-rows tr[data-worker-id="${id}"]`);
    await expect.poll(() => page.locator('#fig-online').textContent(), wait).toBe('2');
    const listed = await api('/workers');
    for (const worker of listed.workers) {
      await expect
        .poll(() => row(worker.id).locator('td').nth(6).textContent(), wait)
        .toBe(String(worker.processed));
    }
    await shot('workers');

    await row(a.id).getByRole('button', { name: 'Pause' }).click();
    await vi.waitFor(async () => {
      const worker = (await api('/workers')).workers.find((w: { id: string }) => w.id === a.id);
      expect(worker).toMatchObject({ paused: true, pause_reason: 'operator' });
    }, wait);
    await expect.poll(() => row(a.id).getAttribute('data-paused'), wait).toBe('true');
    const jobsForB = Array.from({ length: 8 }, (_, i) => job(`paused-a-${i}`, 'fred'));
    for (const entry of jobsForB) await addFiles(entry.job_id, entry.username);
    const idsB = await submitAll(jobsForB);
    await waitTerminal(idsB);
    const ranB = await Promise.all(idsB.map((id) => api(`/job-status/${id}`)));
    expect(ranB.map((task) => task.worker)).toEqual(Array(8).fill(b.id));

    await row(a.id).getByRole('button', { name: 'Resume' }).click();
    await row(b.id).getByRole('button', { name: 'Pause' }).click();
    await vi.waitFor(async () => {
      const list = (await api('/workers')).workers;
      expect(list.find((w: { id: string }) => w.id === a.id)?.paused).toBe(false);
      expect(list.find((w: { id: string }) => w.id === b.id)?.paused).toBe(true);
    }, wait);
    const jobsForA = Array.from({ length: 4 }, (_, i) => job(`paused-b-${i}`, 'fred'));
    for (const entry of jobsForA) await addFiles(entry.job_id, entry.username);
    const idsA = await submitAll(jobsForA);
    await waitTerminal(idsA);
    const ranA = await Promise.all(idsA.map((id) => api(`/job-status/${id}`)));
    expect(ranA.map((task) => task.worker)).toEqual(Array(4).fill(a.id));
    await post('/workers/*/control', { paused: false });

    await row(a.id).locator('input[name="concurrency"]').fill('1');
    await row(a.id).locator('.concurrency-form button').click();
    await vi.waitFor(async () => {
      const worker = (await api('/workers')).workers.find((w: { id: string }) => w.id === a.id);
      expect(worker).toMatchObject({ concurrency: 1, concurrency_current: 1, paused: false });
    }, wait);
    await expect
      .poll(() => row(a.id).locator('[data-field="concurrency"]').textContent(), wait)
      .toBe('1 / 1');
  });

  it('shows monitor graphs, batches and the queue with the figures of the API', {
    timeout: 120_000,
  }, async () => {
    await view('/monitor');
    const monitor = await api('/monitor?range=1h');
    await expect
      .poll(() => page.locator('#total-succeeded').textContent(), wait)
      .toBe(String(monitor.totals.succeeded));
    expect(monitor.totals.succeeded).toBe((await api('/tasks?state=succeeded&limit=1')).total);
    expect(await page.locator('#total-failed').textContent()).toBe(String(monitor.totals.failed));
    expect(await page.locator('#chart-outcomes path[data-series="succeeded"]').count()).toBe(1);
    expect(monitor.stages.length).toBeGreaterThan(0);
    expect(await page.locator('#chart-stages rect').count()).toBe(monitor.stages.length);
    await shot('monitor');
    await page.click('#ranges button[data-range="7d"]');
    await expect.poll(() => page.locator('#ranges button[data-range="7d"]').isDisabled(), wait).toBe(true);

    await view('/batches');
    const batches = await api('/batches');
    expect(batches.total).toBe(1);
    const batchId = batches.items[0].batch_id;
    await page.locator(`#batch-rows tr[data-batch-id="${batchId}"][data-done="true"]`).waitFor();
    await shot('batches');
    await page.locator(`#batch-rows tr[data-batch-id="${batchId}"] a`).click();
    await page.waitForURL(`**/dashboard/batches/${batchId}`);
    await expect.poll(() => page.locator('#batch-tasks tr').count(), wait).toBe(8);
    expect(await page.locator('#batch-progress').textContent()).toContain('8 / 8');

    await view('/queue');
    const queue = (await api('/queue')).queues[0];
    await expect
      .poll(() => page.locator('#queue-rows [data-field="failed"]').textContent(), wait)
      .toBe(String(queue.failed));
    expect(await page.locator('#queue-workers-online').textContent()).toBe('2');
    await shot('queue');
    await page.getByRole('button', { name: /Retry failed tasks/ }).click();
    await expect.poll(() => page.locator('#retry-result').textContent(), wait).toBe('21 tasks queued again');

    await view('');
    await page.locator('#workers tr').first().waitFor();
    await shot('overview');
    expect(outside).toEqual([]);
  });
});
