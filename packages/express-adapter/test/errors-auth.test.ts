import { Writable } from 'node:stream';
import { createMemoryMonitor, type JobQueue, type QueueItem, type UploadPipeline } from '@ncr-upload/core';
import { createUploadApp, createUploadRouter, STATUS_BY_CODE } from '@ncr-upload/express-adapter';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPipeline, getJson, listen, postJson, silentLogger, type TestPipeline } from './helpers.js';

const job = { job_id: 'j1', username: 'u', campaign: 'c' };

describe('error statuses from the pipeline', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function serve(test: TestPipeline, pipeline: UploadPipeline = test.pipeline, extra = {}) {
    const app = createUploadApp(pipeline, { logger: silentLogger, retryAfterSeconds: 7, ...extra });
    const server = await listen(app);
    cleanup.push(async () => {
      app.close();
      await server.close();
      await test.close();
    });
    return server.url;
  }

  it('NOT_ACCEPTING (memory above the threshold) is 503 with Retry-After, logged as a warning without a stack', async () => {
    const monitor = createMemoryMonitor({
      maxMemoryPercent: 80,
      probe: () => ({ total: 100, used: 95, source: 'os' }),
    });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const url = await serve(
      await createTestPipeline({ memoryMonitor: monitor }, { start: false }),
      undefined,
      {
        logger,
      },
    );
    const response = await postJson(`${url}/process-job`, job);
    const refusals = lines.map((line) => JSON.parse(line)).filter((line) => line.code === 'NOT_ACCEPTING');
    expect(refusals).toEqual([expect.objectContaining({ level: 40, msg: 'request refused', status: 503 })]);
    expect(lines.join('')).not.toContain('stack');
    expect(lines.some((line) => line.includes('"level":50'))).toBe(false);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(response.body.code).toBe('NOT_ACCEPTING');
    const batch = await postJson(`${url}/process-batch`, [job]);
    expect(batch.status).toBe(503);
    expect((await getJson(`${url}/memory-stats`)).body.accepting_jobs).toBe(false);
  });

  it('QUEUE_FULL is 429 with Retry-After', async () => {
    const url = await serve(await createTestPipeline({ maxQueued: 1 }, { start: false }));
    expect((await postJson(`${url}/process-job`, job)).status).toBe(200);
    const full = await postJson(`${url}/process-job`, { ...job, job_id: 'j2' });
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('7');
    expect(full.body.code).toBe('QUEUE_FULL');
  });

  it('resubmitting a queued job returns its task; cancel works once, then 409; retry of an active task is 409', async () => {
    const url = await serve(await createTestPipeline({}, { start: false }));
    const submitted = await postJson(`${url}/process-job`, job);
    const resubmitted = await postJson(`${url}/process-job`, job);
    expect(resubmitted.status).toBe(200);
    expect(resubmitted.body).toMatchObject({
      task_id: submitted.body.task_id,
      created: false,
      status: 'queued',
    });
    const cancelled = await getJson(`${url}/jobs/${submitted.body.task_id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    expect(cancelled.body.status).toBe('cancelled');
    const again = await getJson(`${url}/jobs/${submitted.body.task_id}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('INVALID_STATE');
    const retry = await getJson(`${url}/jobs/${submitted.body.task_id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(200);
    const retryRunning = await getJson(`${url}/jobs/${retry.body.task_id}/retry`, { method: 'POST' });
    expect(retryRunning.status).toBe(409);
  });

  it('/health is 503 when a dependency fails; /ready is 503 while draining', async () => {
    const test = await createTestPipeline({}, { start: false });
    let ready = true;
    const url = await serve(test, test.pipeline, { readiness: () => ready });
    const { rm } = await import('node:fs/promises');
    await rm(test.storageRoot, { recursive: true, force: true });
    const health = await getJson(`${url}/health`);
    expect(health.status).toBe(503);
    expect(health.body.status).toBe('degraded');
    expect(health.body.storage).toBe('error');
    expect((await getJson(`${url}/ready`)).status).toBe(200);
    ready = false;
    const draining = await getJson(`${url}/ready`);
    expect(draining.status).toBe(503);
    expect(draining.body.status).toBe('draining');
  });

  it('/live is 503 when the process consumes but takes no waiting job for too long', async () => {
    // A queue that holds jobs but never hands them to the worker: connected, not consuming.
    const waiting: QueueItem[] = [];
    const stalled: JobQueue = {
      add: async (item) => {
        waiting.push(item);
      },
      process: () => ({ stop: async () => undefined }),
      pause: async () => undefined,
      resume: async () => undefined,
      counts: async () => ({ waiting: waiting.length, active: 0, delayed: 0, paused: false }),
      close: async () => undefined,
    };
    const test = await createTestPipeline({ queue: stalled }, { start: false });
    // Long enough that a busy machine answers the first probes within it.
    const url = await serve(test, test.pipeline, { livenessStaleMs: 1000 });
    expect((await getJson(`${url}/live`)).status).toBe(200);
    await test.pipeline.start();
    await postJson(`${url}/process-job`, { job_id: 'never-taken', username: 'u', campaign: 'c' });
    expect((await getJson(`${url}/live`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const stuck = await getJson(`${url}/live`);
    expect(stuck.status).toBe(503);
    expect(stuck.body).toMatchObject({ status: 'stuck', consuming: true, last_job_at: null, waiting: 1 });

    const healthy = await createTestPipeline({}, { start: true });
    const healthyUrl = await serve(healthy, healthy.pipeline, { livenessStaleMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect((await getJson(`${healthyUrl}/live`)).body).toMatchObject({
      status: 'ok',
      consuming: true,
      waiting: 0,
    });
  });

  it('unexpected errors are 500 without internals, logged with the request id', async () => {
    const test = await createTestPipeline({}, { start: false });
    const failing = Object.create(test.pipeline) as UploadPipeline;
    failing.getTask = async () => {
      throw new Error('connect failed for user:hunter2@db');
    };
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const url = await serve(test, failing, { logger: pino({ level: 'info' }, sink) });
    const response = await fetch(`${url}/job-status/abc`, { headers: { 'X-Request-Id': 'req-500' } });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text)).toMatchObject({ status: 500, request_id: 'req-500' });
    expect(lines.some((line) => line.includes('"request_id":"req-500"') && line.includes('"level":50'))).toBe(
      true,
    );
  });

  it('two routers keep separate metric registries; a shared registry needs distinct prefixes', async () => {
    const test = await createTestPipeline({}, { start: false });
    cleanup.push(() => test.close());
    const first = createUploadRouter(test.pipeline, { logger: silentLogger });
    const second = createUploadRouter(test.pipeline, { logger: silentLogger });
    expect(first.metricsRegistry).not.toBe(second.metricsRegistry);
    const shared = new Registry();
    const a = createUploadRouter(test.pipeline, {
      logger: silentLogger,
      metrics: shared,
      metricsPrefix: 'a_',
    });
    const b = createUploadRouter(test.pipeline, {
      logger: silentLogger,
      metrics: shared,
      metricsPrefix: 'b_',
    });
    const text = await shared.metrics();
    expect(text).toContain('a_tasks_total');
    expect(text).toContain('b_queue_depth');
    for (const router of [first, second, a, b]) router.close();
  });

  it('the status table covers every code with a 4xx or 5xx', () => {
    for (const status of Object.values(STATUS_BY_CODE)) expect(status).toBeGreaterThanOrEqual(400);
    expect(STATUS_BY_CODE).toMatchObject({
      INVALID_JOB: 400,
      NOT_FOUND: 404,
      INVALID_STATE: 409,
      QUEUE_FULL: 429,
    });
  });
});

describe('API-key auth', () => {
  let test: TestPipeline;
  let url: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    test = await createTestPipeline({}, { start: false });
    const app = createUploadApp(test.pipeline, { logger: silentLogger, apiKey: ['old-key', 'secret-key'] });
    const server = await listen(app);
    url = server.url;
    close = async () => {
      app.close();
      await server.close();
      await test.close();
    };
  });
  afterAll(() => close());

  it('jobs and monitoring need a key; health and docs do not', async () => {
    const missing = await postJson(`${url}/process-job`, job);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect((await getJson(`${url}/memory-stats`)).status).toBe(401);
    expect((await getJson(`${url}/metrics`)).status).toBe(401);
    expect((await getJson(`${url}/health`)).status).toBe(200);
    expect((await getJson(`${url}/openapi.json`)).status).toBe(200);
  });

  it('/health without the key gives statuses and codes, never the messages that name folders or hosts', async () => {
    const { rm, mkdir } = await import('node:fs/promises');
    await rm(test.storageRoot, { recursive: true, force: true });
    try {
      const anonymous = await getJson(`${url}/health`);
      expect(anonymous.status).toBe(503);
      expect(anonymous.body.storage).toBe('error');
      expect(anonymous.body.checks.storage).toEqual({ status: 'error', code: expect.any(String) });
      expect(JSON.stringify(anonymous.body)).not.toContain(test.storageRoot);
      const keyed = await getJson(`${url}/health`, { headers: { 'X-API-Key': 'secret-key' } });
      expect(keyed.body.checks.storage.code).toBe(anonymous.body.checks.storage.code);
      expect(typeof keyed.body.checks.storage.message).toBe('string');
    } finally {
      await mkdir(test.storageRoot, { recursive: true });
    }
  });

  it('accepts X-API-Key and Authorization: Bearer; rejects a wrong key', async () => {
    expect((await postJson(`${url}/process-job`, job, { 'X-API-Key': 'secret-key' })).status).toBe(200);
    expect(
      (await getJson(`${url}/jobs/active`, { headers: { Authorization: 'Bearer old-key' } })).status,
    ).toBe(200);
    const wrong = await getJson(`${url}/jobs/active`, { headers: { 'X-API-Key': 'secret-kez' } });
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain('secret');
  });

  it('checks the key before reading the body', async () => {
    const response = await postJson(`${url}/process-job`, '{not json');
    expect(response.status).toBe(401);
  });

  it('refuses a configuration that requires a key without one', async () => {
    expect(() => createUploadRouter(test.pipeline, { logger: silentLogger, auth: { jobs: true } })).toThrow(
      /no apiKey/,
    );
  });
});
