import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { createUploadApp } from '@ncr-upload/express-adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestPipeline,
  getJson,
  type Listening,
  listen,
  postJson,
  silentLogger,
  type TestPipeline,
  waitForTerminal,
} from './helpers.js';

const job = { job_id: 'job-api-1', username: 'alice', campaign: 'spring' };

describe('HTTP API on a real pipeline', () => {
  let test: TestPipeline;
  let server: Listening;
  let app: ReturnType<typeof createUploadApp>;

  beforeAll(async () => {
    test = await createTestPipeline();
    await test.addFile(job, 'a.txt', 'hello');
    await test.addFile(job, 'sub/b.txt', 'world');
    app = createUploadApp(test.pipeline, { logger: silentLogger, maxBatchSize: 3, bodyLimit: '2kb' });
    server = await listen(app);
  });
  afterAll(async () => {
    app.close();
    await server.close();
    await test.close();
  });

  it('GET / names the service and links relative to the mount', async () => {
    const { status, body } = await getJson(`${server.url}/`);
    expect(status).toBe(200);
    expect(body.name).toBe('NCR Upload API');
    // The version comes from package.json (written in at build time), never a copy kept by hand.
    const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    expect(body.version).toBe(manifest.version);
    expect(body.links.docs).toBe('/docs');
    expect(body.links.openapi).toBe('/openapi.json');
  });

  it('submits a job that succeeds and delivers its zip', async () => {
    const first = await postJson(`${server.url}/process-job`, { ...job, row_id: 123 });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ job_id: job.job_id, status: 'queued', created: true });
    expect(first.headers.get('x-request-id')).toBeTruthy();
    const done = await waitForTerminal(server.url, first.body.task_id);
    expect(done.state).toBe('succeeded');
    expect(done.status).toBe('succeeded');
    expect(done.percent).toBe(100);
    expect(existsSync(join(test.destinationRoot, done.result.remote_path))).toBe(true);
  });

  it('JSON answers carry no ETag (no body hashing); the console assets revalidate with their own', async () => {
    const answer = await fetch(`${server.url}/health`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('etag')).toBeNull();
    const asset = await fetch(`${server.url}/dashboard/assets/core.js`);
    const tag = asset.headers.get('etag');
    expect(tag).toMatch(/^".+"$/);
    // node:http, not fetch: fetch adds `Cache-Control: no-cache` to a conditional request.
    const again = await new Promise<number | undefined>((resolve, reject) => {
      get(`${server.url}/dashboard/assets/core.js`, { headers: { 'If-None-Match': tag ?? '' } }, (reply) => {
        reply.resume();
        resolve(reply.statusCode);
      }).on('error', reject);
    });
    expect(again).toBe(304);
  });

  it('GET /job-status of an unknown task is 404 problem+json', async () => {
    const response = await fetch(`${server.url}/job-status/nope`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const body = (await response.json()) as { type: string };
    expect(body).toMatchObject({ status: 404, title: 'Not Found' });
    expect(body.type).toMatch(/^urn:/);
  });

  it('invalid and malformed bodies are 400 with field errors, never 500', async () => {
    const invalid = await postJson(`${server.url}/process-job`, { job_id: '', username: 5 });
    expect(invalid.status).toBe(400);
    const fields = invalid.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['body.job_id', 'body.username', 'body.campaign']));
    const malformed = await postJson(`${server.url}/process-job`, '{"job_id": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.type).toBe('urn:ncr-upload:problem:malformed-json');
    const missing = await getJson(`${server.url}/process-job`, { method: 'POST' });
    expect(missing.status).toBe(400);
    // A body that is not JSON by its Content-Type (fetch sends text/plain here).
    const notJson = await getJson(`${server.url}/process-job`, { method: 'POST', body: 'x' });
    expect(notJson.status).toBe(415);
    const notArray = await postJson(`${server.url}/process-batch`, { job_id: 'x' });
    expect(notArray.status).toBe(400);
    const badQuery = await getJson(`${server.url}/jobs?state=bogus&limit=0`);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'query.state',
      'query.limit',
    ]);
  });

  it('a missing field reads "is required", with FastAPI\'s detail array beside problem+json errors', async () => {
    const response = await postJson(`${server.url}/process-job`, { job_id: 'x', campaign: 'c', username: 7 });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body.errors).toEqual([{ field: 'body.username', message: 'username must be a string' }]);
    expect(response.body.detail).toEqual([
      { loc: ['body', 'username'], msg: 'username must be a string', type: 'string_type' },
    ]);
    expect(response.body.message).toMatch(/^The request body is not valid: body.username/);
    const missing = await postJson(`${server.url}/process-job`, { job_id: 'x', campaign: 'c' });
    expect(missing.body.detail).toEqual([
      { loc: ['body', 'username'], msg: 'username is required', type: 'missing' },
    ]);
    const batch = await postJson(`${server.url}/process-batch`, [{ job_id: 'x', campaign: 'c' }]);
    expect(batch.status).toBe(400);
    expect(batch.body.detail).toEqual([
      { loc: ['body', 0, 'username'], msg: 'username is required', type: 'missing' },
    ]);
    const tooLong = await postJson(`${server.url}/process-job`, { ...job, campaign: 'c'.repeat(300) });
    expect(tooLong.body.detail[0]).toMatchObject({ loc: ['body', 'campaign'], type: 'string_too_long' });
  });

  it('ids that can never be delivered are 400 at submission, with the name limit in the message', async () => {
    // `<job_id>.zip.partial` must fit in 255 bytes: 243 is the longest job_id.
    const fits = await postJson(`${server.url}/process-job`, { ...job, job_id: 'j'.repeat(243) });
    expect(fits.status).toBe(200);
    const long = await postJson(`${server.url}/process-job`, { ...job, job_id: 'j'.repeat(244) });
    expect(long.status).toBe(400);
    expect(long.body.code).toBe('INVALID_JOB');
    expect(long.body.errors).toEqual([
      { field: 'body.job_id', message: expect.stringContaining('255-byte limit') },
    ]);
    expect(long.body.errors[0].message).toContain('at most 243 bytes');
    expect(long.body.detail).toEqual([
      { loc: ['body', 'job_id'], msg: expect.stringContaining('255'), type: 'value_error' },
    ]);
    for (const unsafe of ['..', 'a/b', 'trailing.', 'bell\u0007']) {
      const refused = await postJson(`${server.url}/process-job`, { ...job, username: unsafe });
      expect(refused.status, unsafe).toBe(400);
      expect(refused.body.errors[0].field).toBe('body.username');
    }
    const batch = await postJson(`${server.url}/process-batch`, [
      { ...job, job_id: 'k'.repeat(250) },
      { ...job, job_id: 'batch-short' },
    ]);
    expect(batch.status).toBe(200);
    expect(batch.body.items[0].error).toMatchObject({ code: 'INVALID_JOB' });
    expect(batch.body.items[0].error.message).toContain('255');
    expect(batch.body.accepted).toBe(1);
  });

  it('a known path with another method is 405 with Allow, not 404', async () => {
    const get = await getJson(`${server.url}/process-job`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(get.headers.get('content-type')).toContain('application/problem+json');
    const post = await getJson(`${server.url}/health`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const put = await getJson(`${server.url}/jobs/some-task`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('DELETE');
    expect((await getJson(`${server.url}/job-status/x/more`)).status).toBe(404);
  });

  it('a body over the limit is 413, a batch over maxBatchSize is 413', async () => {
    const big = await postJson(`${server.url}/process-job`, { ...job, username: 'x'.repeat(4000) });
    expect(big.status).toBe(413);
    const many = Array.from({ length: 4 }, (_, i) => ({ job_id: `many-${i}`, username: 'u', campaign: 'c' }));
    const batch = await postJson(`${server.url}/process-batch`, many);
    expect(batch.status).toBe(413);
    expect(batch.body.type).toBe('urn:ncr-upload:problem:batch-too-large');
  });

  it('a batch with one invalid job gets a per-item error and the valid ones run', async () => {
    const good = { job_id: 'batch-good', username: 'bob', campaign: 'spring' };
    await test.addFile(good, 'c.txt', 'batch');
    const response = await postJson(`${server.url}/process-batch`, [
      good,
      { job_id: 'batch-bad', username: '' },
    ]);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ total: 2, accepted: 1, rejected: 1 });
    const [ok, bad] = response.body.items;
    expect(ok.error).toBeNull();
    expect(bad.error.code).toBe('INVALID_JOB');
    expect(bad.task_id).toBeNull();
    await waitForTerminal(server.url, ok.task_id);
    const status = await getJson(`${server.url}/batch-status/${response.body.batch_id}`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ total: 1, done: true, percent: 100 });
    expect((await getJson(`${server.url}/batch-status/unknown`)).status).toBe(404);
    const allBad = await postJson(`${server.url}/process-batch`, [{ job_id: 1 }]);
    expect(allBad.status).toBe(400);
    expect(allBad.body.items[0].error.code).toBe('INVALID_JOB');
  });

  it('lists active jobs and searches tasks', async () => {
    const active = await getJson(`${server.url}/jobs/active`);
    expect(active.status).toBe(200);
    expect(active.body.count).toBe(active.body.jobs.length);
    const found = await getJson(`${server.url}/jobs?job_id=${job.job_id}&state=succeeded&limit=5`);
    expect(found.status).toBe(200);
    expect(found.body.jobs.length).toBeGreaterThan(0);
    expect(found.body.jobs.every((t: { job_id: string }) => t.job_id === job.job_id)).toBe(true);
  });

  it('cancel of a finished task is 409; retry of a failed task makes a new task; unknown is 404', async () => {
    const succeeded = (await getJson(`${server.url}/jobs?job_id=${job.job_id}&state=succeeded`)).body.jobs[0];
    const cancel = await getJson(`${server.url}/jobs/${succeeded.task_id}`, { method: 'DELETE' });
    expect(cancel.status).toBe(409);
    expect(cancel.body.code).toBe('INVALID_STATE');
    expect((await getJson(`${server.url}/jobs/unknown`, { method: 'DELETE' })).status).toBe(404);
    expect((await getJson(`${server.url}/jobs/unknown/retry`, { method: 'POST' })).status).toBe(404);

    const empty = await postJson(`${server.url}/process-job`, {
      job_id: 'no-files',
      username: 'u',
      campaign: 'c',
    });
    const failed = await waitForTerminal(server.url, empty.body.task_id);
    expect(failed.state).toBe('failed');
    expect(failed.error.code).toBe('NO_FILES');
    const retry = await getJson(`${server.url}/jobs/${failed.task_id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(200);
    expect(retry.body.task_id).not.toBe(failed.task_id);
    expect(retry.body.job_id).toBe('no-files');
  });

  it('health, readiness, liveness, memory and worker stats', async () => {
    const health = await getJson(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'healthy',
      database: expect.any(String),
      redis: expect.any(String),
    });
    expect(health.body.timestamp).toBeTruthy();
    expect((await getJson(`${server.url}/ready`)).body.status).toBe('ok');
    expect((await getJson(`${server.url}/live`)).status).toBe(200);
    const memory = await getJson(`${server.url}/memory-stats`);
    expect(memory.body.system.total).toBeGreaterThan(0);
    expect(typeof memory.body.accepting_jobs).toBe('boolean');
    expect(memory.body.recommended_concurrency).toBeGreaterThanOrEqual(1);
    const stats = await getJson(`${server.url}/worker-stats`);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      active: expect.any(Number),
      queued: expect.any(Number),
      consuming: true,
    });
    expect(stats.body.workers.length).toBeGreaterThan(0);
  });

  it("/celery-stats answers in the shapes of Celery's inspect: running tasks listed by worker", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const validating = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const held = await createTestPipeline({
      validator: {
        async validate() {
          entered();
          await gate;
          return { valid: true, errors: [] };
        },
      },
    });
    const heldApp = createUploadApp(held.pipeline, { logger: silentLogger });
    const heldServer = await listen(heldApp);
    try {
      const slowJob = { job_id: 'celery-shape', username: 'dave', campaign: 'spring' };
      await held.addFile(slowJob, 'e.txt', 'celery');
      const submitted = await postJson(`${heldServer.url}/process-job`, slowJob);
      await validating;
      const stats = await getJson(`${heldServer.url}/celery-stats`);
      expect(stats.status).toBe(200);
      const [worker, ...others] = Object.keys(stats.body.active);
      expect(others).toEqual([]);
      expect(stats.body.active[worker!]).toEqual([
        expect.objectContaining({
          id: submitted.body.task_id,
          name: 'process_job',
          kwargs: slowJob,
          hostname: worker,
          time_start: expect.any(Number),
        }),
      ]);
      expect(stats.body.scheduled[worker!]).toEqual([]);
      expect(stats.body.reserved[worker!]).toEqual([]);
      expect(stats.body.stats[worker!].pool['max-concurrency']).toBeGreaterThan(0);
      expect(stats.body.queued).toBeUndefined();
      release();
      expect((await waitForTerminal(heldServer.url, submitted.body.task_id)).state).toBe('succeeded');
    } finally {
      release();
      heldApp.close();
      await heldServer.close();
      await held.close();
    }
  });

  it('metrics count tasks by state and bytes moved', async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/ncr_upload_tasks_total\{state="succeeded"\} [1-9]/);
    expect(text).toMatch(/ncr_upload_bytes_moved_total [1-9]/);
    expect(text).toContain('ncr_upload_queue_depth{state="waiting"}');
    expect(text).toContain('ncr_upload_memory_bytes{kind="process_rss"}');
    expect(text).toContain('ncr_upload_stage_duration_seconds_bucket');
  });

  it('unknown routes are 404 problem+json; request ids are echoed', async () => {
    const response = await fetch(`${server.url}/nowhere`, { headers: { 'X-Request-Id': 'abc-123' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('abc-123');
    expect(((await response.json()) as { request_id: string }).request_id).toBe('abc-123');
  });

  it('SSE /events receives an event for a submitted job', async () => {
    const streamJob = { job_id: 'sse-job', username: 'carol', campaign: 'spring' };
    await test.addFile(streamJob, 'd.txt', 'stream');
    const controller = new AbortController();
    const response = await fetch(`${server.url}/events?job_id=sse-job`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    const submitted = await postJson(`${server.url}/process-job`, streamJob);
    const decoder = new TextDecoder();
    let buffer = '';
    const seen: { task_id: string; state: string }[] = [];
    while (!seen.some((event) => event.state === 'succeeded')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      const parts = buffer.split('\n\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) {
        const data = part.split('\n').find((line) => line.startsWith('data: '));
        if (data) seen.push(JSON.parse(data.slice(6)));
      }
    }
    controller.abort();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((event) => event.task_id === submitted.body.task_id)).toBe(true);
    expect(seen.at(-1)?.state).toBe('succeeded');
  });
});
