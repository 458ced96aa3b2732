import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import type { UploadPipeline } from '@ncr-upload/core';
import { createUploadApp, createUploadRouter } from '@ncr-upload/express-adapter';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createTestPipeline,
  getJson,
  type Listening,
  listen,
  silentLogger,
  type TestPipeline,
} from './helpers.js';

/** Status, header names in order (Date aside) and body of one raw POST answer. */
const rawPost = (url: string, headers: Record<string, string>, body: string) =>
  new Promise<{ status: number; names: string[]; type: string; body: string }>((resolve, reject) => {
    const request = http.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': Buffer.byteLength(body) },
    });
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          names: response.rawHeaders.filter((_, index) => index % 2 === 0 && _ !== 'Date'),
          type: String(response.headers['content-type']),
          body: text,
        }),
      );
    });
    request.on('error', reject);
    request.end(body);
  });

const KEY = 'hardening-key-1';
const keyed = { 'x-api-key': KEY };
const job = { job_id: 'hard-1', username: 'u', campaign: 'c' };

/** A pipeline whose `subscribe` counts live subscriptions. */
function countingSubscriptions(pipeline: UploadPipeline) {
  const counter = { live: 0 };
  const wrapped = Object.create(pipeline) as UploadPipeline;
  wrapped.subscribe = (listener) => {
    counter.live += 1;
    const unsubscribe = pipeline.subscribe(listener);
    let done = false;
    return () => {
      if (!done) counter.live -= 1;
      done = true;
      unsubscribe();
    };
  };
  return { wrapped, counter };
}

describe('hardening of the HTTP surface', () => {
  let test: TestPipeline;
  let standalone: Listening;
  let mounted: Listening;
  let counter: { live: number };
  const lines: string[] = [];
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    test = await createTestPipeline({}, { start: false });
    const counting = countingSubscriptions(test.pipeline);
    counter = counting.counter;
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const app = createUploadApp(counting.wrapped, { apiKey: KEY, logger: pino({ level: 'info' }, sink) });
    closers.push(() => app.close());
    standalone = await listen(app);
    const host = express();
    const router = createUploadRouter(test.pipeline, { apiKey: KEY, logger: silentLogger });
    closers.push(() => router.close());
    host.use('/api/v1', router);
    mounted = await listen(host);
  });
  afterAll(async () => {
    for (const close of closers) close();
    await standalone.close();
    await mounted.close();
    await test.close();
  });

  it('requires the key on protected routes whatever the spelling: trailing slash, case, HEAD, a mount prefix', async () => {
    const paths = [
      '/metrics',
      '/metrics/',
      '/METRICS',
      '/events',
      '/jobs/active',
      '/jobs/active/',
      '/jobs',
      '/memory-stats',
      '/celery-stats',
      '/job-status/x',
      '/batch-status/x',
    ];
    for (const base of [standalone.url, `${mounted.url}/api/v1`]) {
      for (const path of paths) {
        for (const method of ['GET', 'HEAD']) {
          const response = await fetch(`${base}${path}`, { method });
          await response.arrayBuffer();
          expect(`${method} ${path} ${response.status}`).toBe(`${method} ${path} 401`);
        }
      }
      for (const [method, path] of [
        ['POST', '/process-job'],
        ['POST', '/process-batch'],
        ['DELETE', '/jobs/x'],
        ['POST', '/jobs/x/retry'],
      ]) {
        const response = await fetch(`${base}${path}`, { method });
        expect(`${method} ${path} ${response.status}`).toBe(`${method} ${path} 401`);
      }
      // An OPTIONS request only lists the methods; it never runs a handler.
      const options = await fetch(`${base}/jobs/active`, { method: 'OPTIONS' });
      expect(await options.text()).not.toContain('jobs');
      // Encoded spellings do not reach a handler without the key either.
      expect((await fetch(`${base}/jobs/%61ctive`)).status).not.toBe(200);
    }
  });

  it('a malformed percent-encoding in the path is a 400 problem, not a 500', async () => {
    for (const base of [standalone.url, `${mounted.url}/api/v1`]) {
      const response = await getJson(`${base}/job-status/%E0%A4%A`, { headers: keyed });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.body.status).toBe(400);
    }
    expect(lines.some((line) => line.includes('"level":50'))).toBe(false);
  });

  it('a body sent with a non-JSON content type is 415; a missing body is 400', async () => {
    const asText = await getJson(`${standalone.url}/process-job`, {
      method: 'POST',
      headers: { ...keyed, 'content-type': 'text/plain' },
      body: JSON.stringify(job),
    });
    expect(asText.status).toBe(415);
    expect(asText.body.detail).toMatch(/application\/json/);
    const asForm = await getJson(`${standalone.url}/process-batch`, {
      method: 'POST',
      headers: { ...keyed, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'job_id=1',
    });
    expect(asForm.status).toBe(415);
    const empty = await getJson(`${standalone.url}/process-job`, { method: 'POST', headers: keyed });
    expect(empty.status).toBe(400);
  });

  it('a submission answers alike on the lean path (plain JSON) and the general one (other JSON types)', async () => {
    const raw = (contentType: string, body: string) =>
      rawPost(`${standalone.url}/process-job`, { ...keyed, 'content-type': contentType }, body);
    const submission = JSON.stringify({ job_id: 'lean-1', username: 'u', campaign: 'c' });
    const lean = await raw('application/json', submission);
    const general = await raw('application/vnd.ncr+json', submission);
    expect(lean.status).toBe(200);
    expect(general.status).toBe(200);
    expect(lean.names).toEqual(general.names);
    expect(lean.type).toBe('application/json; charset=utf-8');
    expect(general.type).toBe(lean.type);
    const first = JSON.parse(lean.body);
    const again = JSON.parse(general.body);
    expect(Object.keys(again)).toEqual(Object.keys(first));
    expect(again).toEqual({ ...first, created: false, message: again.message });
    expect(first.created).toBe(true);
    // A byte order mark is dropped as the general parser does; bad JSON is the same problem on both paths.
    expect((await raw('application/json; charset=UTF-8', `\uFEFF${submission}`)).status).toBe(200);
    const badLean = await raw('application/json', '{"job_id": ');
    const badGeneral = await raw('application/vnd.ncr+json', '{"job_id": ');
    expect(badLean.status).toBe(400);
    expect(badLean.names).toEqual(badGeneral.names);
    const { request_id: leanId, ...leanProblem } = JSON.parse(badLean.body);
    const { request_id: generalId, ...generalProblem } = JSON.parse(badGeneral.body);
    expect(leanProblem).toEqual(generalProblem);
    expect(leanId).not.toBe(generalId);
  });

  it('POST /process-job taken before the walk answers as the walk does (app and mounted router)', async () => {
    const json = { 'content-type': 'application/json' };
    // The exact URL takes the submission-first path; a query string or another spelling takes the walk.
    for (const [first, walked] of [
      [`${standalone.url}/process-job`, `${standalone.url}/process-job?via=walk`],
      [`${mounted.url}/api/v1/process-job`, `${mounted.url}/api/v1/Process-Job/`],
    ] as const) {
      for (const [headers, body] of [
        [{ ...keyed, ...json }, (id: string) => JSON.stringify({ job_id: id, username: 'u', campaign: 'c' })],
        [{ ...keyed, ...json }, () => JSON.stringify({ job_id: '../x', username: 'u' })],
        [{ ...keyed, ...json }, () => '{"job_id": '],
        [{ ...keyed, 'content-type': 'text/plain' }, () => 'job'],
        [json, (id: string) => JSON.stringify({ job_id: id, username: 'u', campaign: 'c' })],
      ] as const) {
        const fast = await rawPost(first, headers, body(`first-${first.length}`));
        const walk = await rawPost(walked, headers, body(`walk-${first.length}`));
        expect(fast.status).toBe(walk.status);
        expect(fast.names).toEqual(walk.names);
        expect(fast.type).toBe(walk.type);
        const {
          request_id: _fastId,
          task_id: _fastTask,
          job_id: _fastJob,
          instance: _f,
          ...fastRest
        } = JSON.parse(fast.body);
        const {
          request_id: _walkId,
          task_id: _walkTask,
          job_id: _walkJob,
          instance: _w,
          ...walkRest
        } = JSON.parse(walk.body);
        expect(fastRest).toEqual(walkRest);
      }
    }
    // One log line per request on both paths, with the path only.
    const logged = lines
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === 'request' && line.method === 'POST');
    expect(logged.some((line) => line.path === '/process-job' && line.status === 200)).toBe(true);
    expect(logged.some((line) => line.path === '/process-job' && line.status === 401)).toBe(true);
    for (const line of logged) {
      expect(Object.keys(line)).toEqual(
        expect.arrayContaining(['request_id', 'method', 'path', 'status', 'duration_ms']),
      );
      expect(line.path).not.toContain('?');
    }
  });

  it('odd JSON bodies are 400/413 and never pollute prototypes', async () => {
    const post = (path: string, body: string) =>
      getJson(`${standalone.url}${path}`, {
        method: 'POST',
        headers: { ...keyed, 'content-type': 'application/json' },
        body,
      });
    for (const body of [
      'null',
      '[]',
      '"text"',
      '42',
      '{"job_id":"a","username":"u","campaign":"c","row_id":1e400}',
    ]) {
      expect((await post('/process-job', body)).status).toBe(400);
    }
    for (const body of ['null', '{}', '[null, 1, "x"]'])
      expect((await post('/process-batch', body)).status).toBe(400);
    expect((await post('/process-job', `{"job_id":"${'x'.repeat(2_000_000)}"}`)).status).toBe(413);
    const polluting = await post(
      '/process-job',
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"job_id":"proto-1","username":"u","campaign":"c"}',
    );
    expect(polluting.status).toBe(200);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    const record = await getJson(`${standalone.url}/job-status/${polluting.body.task_id}`, {
      headers: keyed,
    });
    expect(Object.keys(record.body)).not.toContain('__proto__');
  });

  it('error logs and answers hide credentials embedded in URLs', async () => {
    const failing = Object.create(test.pipeline) as UploadPipeline;
    failing.getTask = async () => {
      const error = new Error('connect to mysql://app:hunter2@db.internal:3306/jobs failed');
      throw Object.assign(error, { cause: new Error('redis://:s3cr3t-pass@cache:6379 refused') });
    };
    const sink: string[] = [];
    const app = createUploadApp(failing, {
      logger: pino(
        { level: 'info' },
        new Writable({
          write(chunk, _encoding, callback) {
            sink.push(String(chunk));
            callback();
          },
        }),
      ),
    });
    const server = await listen(app);
    try {
      const response = await fetch(`${server.url}/job-status/abc`);
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(text).not.toMatch(/hunter2|s3cr3t|stack|at /);
      const logged = sink.join('');
      expect(logged).toContain('"level":50');
      expect(logged).toContain('mysql://***@db.internal:3306/jobs');
      expect(logged).not.toContain('hunter2');
      expect(logged).not.toContain('s3cr3t-pass');
    } finally {
      app.close();
      await server.close();
    }
  });

  it('/events releases the subscription and timer of every client that disconnects', async () => {
    const before = counter.live;
    const agent = new http.Agent({ keepAlive: false });
    const requests: http.ClientRequest[] = [];
    for (let index = 0; index < 40; index += 1) {
      await new Promise<void>((resolve, reject) => {
        const request = http.get(`${standalone.url}/events`, { agent, headers: keyed }, (response) => {
          expect(response.statusCode).toBe(200);
          response.once('data', () => resolve());
        });
        request.on('error', reject);
        requests.push(request);
      });
    }
    expect(counter.live).toBe(before + 40);
    for (const request of requests) request.destroy();
    await vi.waitFor(() => expect(counter.live).toBe(before), { timeout: 5000, interval: 20 });
    // HEAD gets the headers only and leaves nothing subscribed.
    const head = await fetch(`${standalone.url}/events`, { method: 'HEAD', headers: keyed });
    expect(head.status).toBe(200);
    await vi.waitFor(() => expect(counter.live).toBe(before), { timeout: 5000, interval: 20 });
    agent.destroy();
  });

  it('/events drops events for a client that stops reading, then tells it how many with a gap event', async () => {
    const { task_id } = await test.pipeline.submit({ job_id: 'events-flood', username: 'u', campaign: 'c' });
    const socket = net.connect(standalone.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET /events?task_id=${task_id} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\n\r\n`);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    await vi.waitFor(() => expect(received).toContain(': connected'), { timeout: 5000, interval: 10 });
    // Stop reading: the kernel buffers fill, then the server's writes report a full socket.
    socket.pause();
    const padding = 'x'.repeat(2000);
    for (let index = 0; index < 20_000; index += 1) {
      await test.pipeline.statusStore.updateTask(task_id, { worker: `${padding}${index}` });
    }
    socket.resume();
    await vi.waitFor(() => expect(received).toMatch(/event: gap\ndata: \{"dropped":\d+\}/), {
      timeout: 20_000,
      interval: 50,
    });
    const dropped = Number(/"dropped":(\d+)/.exec(received)?.[1]);
    const delivered = received.split('event: task').length - 1;
    expect(dropped).toBeGreaterThan(0);
    expect(delivered + dropped).toBeLessThanOrEqual(20_001);
    socket.destroy();
  });

  it('metrics labels stay bounded: no task ids, paths or user input', async () => {
    for (let index = 0; index < 5; index += 1) {
      await fetch(`${standalone.url}/job-status/user-input-${index}`, { headers: keyed });
      await fetch(`${standalone.url}/jobs?job_id=user-input-${index}`, { headers: keyed });
    }
    const text = await (await fetch(`${standalone.url}/metrics`, { headers: keyed })).text();
    expect(text).not.toContain('user-input');
    expect(text).toContain('route="/job-status/:task_id"');
  });
});
