import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe, probeCommand } from '../src/probe.js';

let server: Server;
let port: number;
let ready = true;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/ready')
      response.writeHead(ready ? 200 : 503).end(ready ? '{"status":"ok"}' : 'draining');
    else if (request.url === '/live') response.writeHead(200).end('{"status":"ok"}');
    else response.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((done) => server.close(() => done())));

async function run(args: string[]): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const code = await probeCommand(args, out);
  return { code, text };
}

describe('ncr-upload probe', () => {
  it('exits 0 when the endpoint answers 200 and 1 when it answers 503 (draining)', async () => {
    ready = true;
    expect(await run(['ready', '--port', String(port)])).toEqual({
      code: 0,
      text: 'ready 200 {"status":"ok"}\n',
    });
    ready = false;
    expect((await run(['ready', '--port', String(port)])).code).toBe(1);
    expect((await run(['live', '--port', String(port)])).code).toBe(0);
  });

  it('exits 1 with the reason when nothing listens, 2 on bad arguments', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const refused = await run(['live', '--port', String(free)]);
    expect(refused.code).toBe(1);
    expect(refused.text).toContain('ECONNREFUSED');
    expect((await run(['health'])).code).toBe(2);
    expect((await run(['ready', '--port', 'x'])).code).toBe(2);
  });

  it('takes WORKER_HEALTH_PORT before API_PORT', async () => {
    expect((await probe({ path: 'live' }, { WORKER_HEALTH_PORT: String(port), API_PORT: '1' })).status).toBe(
      200,
    );
    expect((await probe({ path: 'live' }, { WORKER_HEALTH_PORT: '', API_PORT: String(port) })).status).toBe(
      200,
    );
  });
});
