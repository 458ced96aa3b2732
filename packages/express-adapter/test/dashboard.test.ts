import type { Storage } from '@ncr-upload/core';
import { createFolderStorage } from '@ncr-upload/core/fs';
import { createUploadRouter, type UploadRouter } from '@ncr-upload/express-adapter';
import express from 'express';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestPipeline,
  getJson,
  keepOffline,
  type Listening,
  launchBrowser,
  listen,
  postJson,
  silentLogger,
  type TestPipeline,
  waitForTerminal,
} from './helpers.js';

const key = { 'X-API-Key': 'dashboard-key' };
const job = (job_id: string) => ({ job_id, username: 'ana', campaign: 'spring', row_id: 1 });
const timeout = 30_000;
const releases: (() => void)[] = [];

/** Resolves when released (test end), rejects when the task's signal aborts. */
const held = (signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    releases.push(resolve);
    signal?.addEventListener('abort', () => reject(signal.reason ?? new Error('aborted')), { once: true });
  });

describe('dashboard in a browser, mounted at /uploads', () => {
  let test: TestPipeline;
  let router: UploadRouter;
  let server: Listening;
  let browser: Browser;
  let page: Page;
  const outside: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    // Storage that holds the second file of job `held-1` until the task is cancelled.
    let folder: Storage | undefined;
    const storage: Storage = {
      async open(file, options) {
        if (file.key.includes('held-1') && file.key.endsWith('two.txt')) await held(options?.signal);
        return folder!.open(file, options);
      },
    };
    test = await createTestPipeline({ storage });
    folder = createFolderStorage({ root: test.storageRoot });
    router = createUploadRouter(test.pipeline, { logger: silentLogger, apiKey: key['X-API-Key'] });
    const app = express();
    app.use('/uploads', router);
    server = await listen(app);
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(timeout);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await keepOffline(page, outside);
  });
  afterAll(async () => {
    for (const release of releases) release();
    await browser?.close();
    router?.close();
    await server?.close();
    await test?.close();
  });

  const api = (path: string) => `${server.url}/uploads${path}`;
  const recentRow = (taskId: string) => page.locator(`#recent tr[data-task-id="${taskId}"]`);

  it('asks for the key, then shows workers, recent tasks, failures and retries', async () => {
    await page.goto(api('/dashboard'));
    // Without a key the API answers 401 and the page shows the problem detail.
    await expect.poll(() => page.locator('#notice').textContent(), { timeout }).toContain('HTTP 401');

    await page.fill('#key', key['X-API-Key']);
    await page.click('#key-form button');
    await page.locator('#state').filter({ hasText: 'live' }).waitFor();
    await page.locator('#workers tr').first().waitFor();
    expect(await page.locator('#notice').textContent()).toBe('');
    expect(await page.locator('#fig-queued').textContent()).toMatch(/^\d+$/);

    // A job that succeeds shows up with its state badge and remote path.
    const good = job('good-1');
    await test.addFile(good, 'a.txt', 'alpha');
    const submitted = await postJson(api('/process-job'), good, key);
    expect(submitted.status).toBe(200);
    const done = await waitForTerminal(api(''), submitted.body.task_id, key);
    expect(done.state).toBe('succeeded');
    const goodRow = recentRow(submitted.body.task_id);
    await goodRow.and(page.locator('[data-state="succeeded"]')).waitFor();
    await expect.poll(() => goodRow.textContent(), { timeout }).toContain(done.result.remote_path);
    expect(await goodRow.locator('.badge').textContent()).toBe('succeeded');
    expect(await goodRow.getByRole('button', { name: 'Retry' }).count()).toBe(0);

    // A job whose files are missing fails with its error code.
    const missing = job('missing-1');
    const failedSubmit = await postJson(api('/process-job'), missing, key);
    const failed = await waitForTerminal(api(''), failedSubmit.body.task_id, key);
    expect(failed.state).toBe('failed');
    const failedRow = recentRow(failedSubmit.body.task_id);
    await failedRow.and(page.locator('[data-state="failed"]')).waitFor();
    expect(await failedRow.textContent()).toContain(failed.error.code);
    expect(await failedRow.locator('.badge').textContent()).toBe('failed');

    // Add the files, click Retry: a new task for the same job succeeds.
    await test.addFile(missing, 'b.txt', 'bravo');
    await failedRow.getByRole('button', { name: 'Retry' }).click();
    const retried = page.locator('#recent tr[data-state="succeeded"]').filter({ hasText: 'missing-1' });
    await retried.waitFor();
    const retriedId = await retried.getAttribute('data-task-id');
    expect(retriedId).not.toBe(failedSubmit.body.task_id);
    const retriedStatus = await getJson(api(`/job-status/${retriedId}`), { headers: key });
    expect(retriedStatus.body).toMatchObject({ job_id: 'missing-1', state: 'succeeded' });
    expect(await retried.textContent()).toContain(retriedStatus.body.result.remote_path);

    // The filter box narrows the list with the GET /jobs query parameters.
    await page.fill('#filter input[name="job_id"]', 'missing-1');
    await page.click('#filter button');
    await expect.poll(() => page.locator('#recent tr').count(), { timeout }).toBe(2);
    await page.selectOption('#filter select[name="state"]', 'failed');
    await page.click('#filter button');
    await expect.poll(() => page.locator('#recent tr').count(), { timeout }).toBe(1);
    await recentRow(failedSubmit.body.task_id).waitFor();
    await page.fill('#filter input[name="job_id"]', '');
    await page.selectOption('#filter select[name="state"]', '');
    await page.click('#filter button');
    await expect.poll(() => page.locator('#recent tr').count(), { timeout }).toBe(3);
  });

  it('shows job fields as text, never as markup', async () => {
    const hostile = '<img src=x onerror=alert(1)>';
    // No '/' in the ids: they are folder names, and a name cannot hold one.
    const submitted = await postJson(api('/process-job'), { ...job(hostile), username: '<b>bold<b>' }, key);
    expect(submitted.status).toBe(200);
    await waitForTerminal(api(''), submitted.body.task_id, key);
    const row = recentRow(submitted.body.task_id);
    await row.waitFor();
    expect(await row.textContent()).toContain(hostile);
    expect(await row.textContent()).toContain('<b>bold<b>');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('#recent b').allTextContents()).not.toContain('bold');
    expect(dialogs).toEqual([]);
    expect(outside).toEqual([]);
  });

  it('cancels an active task shown with live progress; a refused action shows its problem detail', async () => {
    const held = job('held-1');
    await test.addFile(held, 'one.txt', 'one');
    await test.addFile(held, 'two.txt', 'two');
    const submitted = await postJson(api('/process-job'), held, key);
    const taskId: string = submitted.body.task_id;
    const row = page.locator(`#active tr[data-task-id="${taskId}"]`);
    // The first file is read, the second is held: the row shows the fetch stage and its progress.
    await row.filter({ hasText: 'fetch' }).waitFor();
    await expect.poll(() => row.locator('.bar i').getAttribute('style'), { timeout }).toMatch(/width: \d/);
    expect(await row.locator('.badge').textContent()).toBe('running');
    // Progress writes are throttled: the file totals arrive shortly after the stage.
    await expect.poll(() => row.textContent(), { timeout }).toContain('/ 2');
    // With a wrong key typed in, Cancel is refused and the page shows the problem detail.
    await page.fill('#key', 'wrong-key');
    await row.getByRole('button', { name: 'Cancel' }).click();
    await expect
      .poll(() => page.locator('#notice').textContent(), { timeout })
      .toMatch(/^HTTP 401 .+: .+ \(DELETE jobs\/[\w-]+\)$/);
    expect(await page.locator('#notice').textContent()).toContain(taskId);
    expect(await row.locator('.badge').textContent()).toBe('running');
    await page.fill('#key', key['X-API-Key']);
    await row.getByRole('button', { name: 'Cancel' }).click();
    await recentRow(taskId).and(page.locator('[data-state="cancelled"]')).waitFor();
    await row.waitFor({ state: 'detached' });
    expect((await getJson(api(`/job-status/${taskId}`), { headers: key })).body.state).toBe('cancelled');
  });
});
