import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Catalog, createS3Storage, s3ClientOptionsForCompatible } from '@ncr-upload/core/s3';
import { type RunningS3rver, startS3rver } from '@ncr-upload/test-kit/s3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRef } from '../src/ports/file-ref.js';

const BUCKET = 'ncr-test';
const MANY = 1100;
const BIG = 20 * 1024 * 1024;

/** Deterministic, incompressible-looking bytes without holding a second copy. */
function pattern(size: number, seed: number): Buffer {
  const buffer = Buffer.alloc(size);
  let state = seed >>> 0 || 1;
  for (let offset = 0; offset + 4 <= size; offset += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    buffer.writeUInt32LE(state >>> 0, offset);
  }
  return buffer;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function hashStream(stream: Readable): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        hash.update(chunk);
        callback();
      },
    }),
  );
  return { hash: hash.digest('hex'), bytes };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

let s3: RunningS3rver;
let client: S3Client;
const big = pattern(BIG, 42);

beforeAll(async () => {
  s3 = await startS3rver();
  client = s3.client();
  await s3.createBucket(BUCKET);
  await s3.putObject(BUCKET, 'big.bin', big);
  await s3.putObject(BUCKET, 'campaign/alice/job-1/a.txt', 'alpha');
  await s3.putObject(BUCKET, 'campaign/alice/job-1/images/front/b.jpg', Buffer.from([1, 2, 3]));
  await s3.putObject(BUCKET, 'campaign/alice/job-10/other.txt', 'not mine');
  await s3.putObject(BUCKET, 'tenant/x/inside.txt', 'inside');
  const keys = Array.from({ length: MANY }, (_, index) => `many/${String(index).padStart(5, '0')}.txt`);
  for (let start = 0; start < keys.length; start += 50) {
    await Promise.all(
      keys.slice(start, start + 50).map((key) => s3.putObject(BUCKET, key, Buffer.from(key))),
    );
  }
}, 180_000);

afterAll(async () => {
  await s3?.stop();
});

describe('createS3Storage against s3rver', () => {
  it('streams a 20 MiB object with the announced size and the same sha256', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET });
    const opened = await storage.open({ key: 'big.bin' });
    expect(opened.size).toBe(BIG);
    const { hash, bytes } = await hashStream(opened.stream);
    expect(bytes).toBe(BIG);
    expect(hash).toBe(sha256(big));
  });

  it('lists more than 1000 keys across ListObjectsV2 pages', async () => {
    const counted = s3.client();
    let pages = 0;
    counted.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') pages += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countListPages' },
    );
    const storage = createS3Storage({ client: counted, bucket: BUCKET });
    const files = await collect(storage.list('many/'));
    expect(pages).toBe(2);
    expect(files).toHaveLength(MANY);
    expect(new Set(files.map((file) => file.key)).size).toBe(MANY);
    expect(files[0]).toEqual({ key: 'many/00000.txt', name: '00000.txt', size: 'many/00000.txt'.length });
    expect(files.at(-1)?.key).toBe(`many/${String(MANY - 1).padStart(5, '0')}.txt`);
  });

  it('adds its prefix to keys and strips it from listed keys', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET, prefix: 'tenant/' });
    const files = await collect(storage.list('x/'));
    expect(files).toEqual([{ key: 'x/inside.txt', name: 'inside.txt', size: 6 }]);
    const opened = await storage.open(files[0] as FileRef);
    expect((await hashStream(opened.stream)).hash).toBe(sha256(Buffer.from('inside')));
  });

  it('reports a missing key as FILE_NOT_FOUND naming bucket and key, not retryable', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET });
    const error = await storage.open({ key: 'nope/missing.txt' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'UploadError', code: 'FILE_NOT_FOUND', retryable: false });
    expect((error as Error).message).toContain('nope/missing.txt');
    expect((error as Error).message).toContain(BUCKET);
  });

  it('reports an unknown access key (a real 403 InvalidAccessKeyId from s3rver) as ACCESS_DENIED without the secret', async () => {
    const secret = 'not-the-real-secret-0123456789';
    const storage = createS3Storage({
      bucket: BUCKET,
      clientOptions: s3ClientOptionsForCompatible({
        endpoint: s3.endpoint,
        accessKeyId: 'UNKNOWNKEY',
        secretAccessKey: secret,
      }),
    });
    try {
      const error = await storage.open({ key: 'big.bin' }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'ACCESS_DENIED', retryable: false });
      expect((error as Error).message).toMatch(/check the S3 credentials/i);
      expect((error as Error).message).toContain('InvalidAccessKeyId');
      expect(JSON.stringify(error)).not.toContain(secret);
      expect((error as Error).message).not.toContain(secret);
      await expect(storage.ping()).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
    } finally {
      await storage.close();
    }
  });

  it('rejects and destroys the stream when the signal aborts mid-stream', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET });
    const controller = new AbortController();
    const opened = await storage.open({ key: 'big.bin' }, { signal: controller.signal });
    let received = 0;
    const reading = (async () => {
      for await (const chunk of opened.stream) {
        received += (chunk as Buffer).length;
        if (!controller.signal.aborted) controller.abort();
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(opened.stream.destroyed).toBe(true);
    expect(received).toBeLessThan(BIG);
  });

  it('rejects with CANCELLED when the signal is already aborted', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET });
    await expect(storage.open({ key: 'big.bin' }, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });

  it('stores exact bytes from a stream PutObject with the compatible client options', async () => {
    const data = pattern(300_000, 7);
    const chunks = [data.subarray(0, 100_000), data.subarray(100_000, 250_000), data.subarray(250_000)];
    await s3.putObject(BUCKET, 'streamed.bin', Readable.from(chunks), data.length);
    const response = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'streamed.bin' }));
    const stored = Buffer.from(await response.Body!.transformToByteArray());
    expect(stored.length).toBe(data.length);
    expect(sha256(stored)).toBe(sha256(data));
  });

  it('pings the bucket and reports a missing bucket as a non-retryable STORAGE_ERROR', async () => {
    await expect(createS3Storage({ client, bucket: BUCKET }).ping()).resolves.toBeUndefined();
    const missing = createS3Storage({ client, bucket: 'no-such-bucket' });
    await expect(missing.ping()).rejects.toMatchObject({ code: 'STORAGE_ERROR', retryable: false });
    await expect(missing.open({ key: 'a' })).rejects.toMatchObject({
      code: 'STORAGE_ERROR',
      retryable: false,
    });
  });

  it('works while AWS_CA_BUNDLE points at a file that does not exist (the SDK does not read it)', async () => {
    const previous = process.env.AWS_CA_BUNDLE;
    process.env.AWS_CA_BUNDLE = join(tmpdir(), 'ncr-missing-ca-bundle.pem');
    const storage = createS3Storage({ bucket: BUCKET, clientOptions: s3.clientOptions() });
    try {
      const opened = await storage.open({ key: 'tenant/x/inside.txt' });
      expect((await hashStream(opened.stream)).bytes).toBe(6);
    } finally {
      await storage.close();
      if (previous === undefined) delete process.env.AWS_CA_BUNDLE;
      else process.env.AWS_CA_BUNDLE = previous;
    }
  });

  it('close() destroys only a client it created', async () => {
    const injected = s3.client();
    await createS3Storage({ client: injected, bucket: BUCKET }).close();
    await expect(createS3Storage({ client: injected, bucket: BUCKET }).ping()).resolves.toBeUndefined();
    const own = createS3Storage({ bucket: BUCKET, clientOptions: s3.clientOptions() });
    await own.ping();
    await own.close();
    // A closed storage makes a new client on next use rather than using a destroyed one.
    await expect(own.ping()).resolves.toBeUndefined();
    await own.close();
  });

  it('rejects invalid options with CONFIG_INVALID', () => {
    expect(() => createS3Storage({ client, bucket: '' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => createS3Storage({ client, bucket: BUCKET, maxAttempts: 0 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('createS3Catalog against s3rver', () => {
  it("lists a job's files by prefix with sub-folders as folder", async () => {
    const catalog = createS3Catalog({ client, bucket: BUCKET });
    const job = { job_id: 'job-1', username: 'alice', campaign: 'campaign' };
    const files = await catalog.listFiles(job);
    expect(files.map(({ key, name, folder, size }) => ({ key, name, folder, size }))).toEqual([
      { key: 'campaign/alice/job-1/a.txt', name: 'a.txt', folder: undefined, size: 5 },
      { key: 'campaign/alice/job-1/images/front/b.jpg', name: 'b.jpg', folder: 'images/front', size: 3 },
    ]);
    await catalog.close?.();
  });

  it('takes a custom prefix and an existing storage, and finds nothing for an unknown job', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET });
    const catalog = createS3Catalog({ storage, prefix: (job) => `tenant/${job.job_id}` });
    const files = await catalog.listFiles({ job_id: 'x', username: 'u', campaign: 'c' });
    expect(files.map((file) => file.key)).toEqual(['tenant/x/inside.txt']);
    expect(await catalog.listFiles({ job_id: 'none', username: 'u', campaign: 'c' })).toEqual([]);
    const opened = await storage.open(files[0] as FileRef);
    expect((await hashStream(opened.stream)).bytes).toBe(6);
  });
});
