/**
 * Faults s3rver cannot produce (throttling, a wrong secret, a short body),
 * served by small real HTTP servers that answer like S3 does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createS3Storage, s3ClientOptionsForCompatible } from '@ncr-upload/core/s3';
import { afterEach, describe, expect, it } from 'vitest';

const SECRET = 'very-secret-key-that-must-not-leak';

interface FakeS3 {
  endpoint: string;
  requests: string[];
  close(): Promise<void>;
}

const servers: Server[] = [];

async function startFakeS3(
  handle: (request: IncomingMessage, response: ServerResponse, index: number) => void,
): Promise<FakeS3> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    request.resume();
    handle(request, response, requests.length - 1);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function s3Error(response: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`;
  response.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': '4442587FB7D0A2F9',
  });
  response.end(body);
}

function object(response: ServerResponse, body: Buffer): void {
  response.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': body.length,
    etag: '"0123456789abcdef0123456789abcdef"',
    'last-modified': new Date().toUTCString(),
  });
  response.end(body);
}

function storageFor(fake: FakeS3, maxAttempts?: number, retryBaseDelayMs = 1) {
  return createS3Storage({
    bucket: 'fake-bucket',
    clientOptions: s3ClientOptionsForCompatible({
      endpoint: fake.endpoint,
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: SECRET,
    }),
    retryBaseDelayMs,
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('S3 storage faults', () => {
  it('fails with retryable SIZE_MISMATCH when the server sends fewer bytes than Content-Length', async () => {
    const fake = await startFakeS3((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 });
      response.write(Buffer.alloc(400, 1), () => response.socket?.destroy());
    });
    const storage = storageFor(fake);
    const opened = await storage.open({ key: 'short.bin' });
    expect(opened.size).toBe(1000);
    const error = await drain(opened.stream).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'SIZE_MISMATCH', retryable: true });
    expect((error as Error).message).toContain('400 of the 1000 bytes');
    expect(opened.stream.destroyed).toBe(true);
    await storage.close();
  });

  it('retries SlowDown (503) and succeeds on the third attempt', async () => {
    const fake = await startFakeS3((_request, response, index) => {
      if (index < 2) s3Error(response, 503, 'SlowDown', 'Please reduce your request rate.');
      else object(response, Buffer.from('hello'));
    });
    const storage = storageFor(fake);
    const opened = await storage.open({ key: 'a/b.txt' });
    expect((await drain(opened.stream)).toString()).toBe('hello');
    expect(fake.requests).toEqual(Array(3).fill('GET /fake-bucket/a/b.txt?x-id=GetObject'));
    await storage.close();
  });

  it('retries a connection reset before the response starts', async () => {
    const fake = await startFakeS3((request, response, index) => {
      if (index === 0) request.socket.destroy();
      else object(response, Buffer.from('after reset'));
    });
    const storage = storageFor(fake);
    const opened = await storage.open({ key: 'k' });
    expect((await drain(opened.stream)).toString()).toBe('after reset');
    expect(fake.requests).toHaveLength(2);
    await storage.close();
  });

  it('gives up after maxAttempts with a retryable STORAGE_ERROR', async () => {
    const fake = await startFakeS3((_request, response) => s3Error(response, 503, 'SlowDown', 'Slow down.'));
    const storage = storageFor(fake, 3);
    await expect(storage.open({ key: 'k' })).rejects.toMatchObject({
      code: 'STORAGE_ERROR',
      retryable: true,
    });
    expect(fake.requests).toHaveLength(3);
    await storage.close();
  });

  it('maps a 404 NoSuchKey to FILE_NOT_FOUND without retrying', async () => {
    const fake = await startFakeS3((_request, response) =>
      s3Error(response, 404, 'NoSuchKey', 'The specified key does not exist.'),
    );
    const storage = storageFor(fake);
    await expect(storage.open({ key: 'gone.txt' })).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
      retryable: false,
    });
    expect(fake.requests).toHaveLength(1);
    await storage.close();
  });

  it('maps a 403 SignatureDoesNotMatch (a wrong secret) to ACCESS_DENIED, once, without the secret', async () => {
    const fake = await startFakeS3((_request, response) =>
      s3Error(
        response,
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      ),
    );
    const storage = storageFor(fake);
    const error = await storage.open({ key: 'k' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ACCESS_DENIED', retryable: false });
    expect((error as Error).message).toContain('SignatureDoesNotMatch');
    expect((error as Error).message).toMatch(/check the S3 credentials/i);
    expect((error as Error).message).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
    // The cause keeps the S3 code and status, not the whole HTTP exchange (signed request headers).
    expect((error as Error).cause).toMatchObject({ $metadata: { httpStatusCode: 403 } });
    expect((error as Error).cause).not.toHaveProperty('$response');
    expect(fake.requests).toHaveLength(1);
    await storage.close();
  });

  it('maps AccessDenied on ListObjectsV2 to ACCESS_DENIED', async () => {
    const fake = await startFakeS3((_request, response) =>
      s3Error(response, 403, 'AccessDenied', 'Access Denied'),
    );
    const storage = storageFor(fake);
    const listing = (async () => {
      for await (const _file of storage.list('x/')) {
        // nothing is listed
      }
    })();
    await expect(listing).rejects.toMatchObject({ code: 'ACCESS_DENIED', retryable: false });
    await storage.close();
  });

  it('stops waiting between retries when the signal aborts', async () => {
    const controller = new AbortController();
    const fake = await startFakeS3((_request, response) => {
      s3Error(response, 503, 'SlowDown', 'Slow down.');
      setImmediate(() => controller.abort());
    });
    const storage = createS3Storage({
      bucket: 'fake-bucket',
      clientOptions: s3ClientOptionsForCompatible({
        endpoint: fake.endpoint,
        accessKeyId: 'A',
        secretAccessKey: 'B',
      }),
      maxAttempts: 2,
      retryBaseDelayMs: 20_000,
      retryMaxDelayMs: 20_000,
    });
    await expect(storage.open({ key: 'k' }, { signal: controller.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect(fake.requests).toHaveLength(1);
    await storage.close();
  });
});
