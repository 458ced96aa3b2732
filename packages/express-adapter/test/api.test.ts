import { existsSync } from 'node:fs';
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
    for (const path of ['/celery-stats', '/worker-stats']) {
      const stats = await getJson(`${server.url}${path}`);
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({
        active: expect.any(Number),
        queued: expect.any(Number),
        consuming: true,
      });
      expect(stats.body.workers.length).toBeGreaterThan(0);
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
