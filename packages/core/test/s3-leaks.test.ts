import { getEventListeners } from 'node:events';
import { readdirSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Storage } from '@ncr-upload/core/s3';
import { type RunningS3rver, startS3rver } from '@ncr-upload/test-kit/s3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BUCKET = 'ncr-leaks';
const openFds = () => readdirSync('/proc/self/fd').length;
let s3: RunningS3rver;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3rver();
  client = s3.client();
  await s3.createBucket(BUCKET);
  await s3.putObject(BUCKET, 'big.bin', Buffer.alloc(8 * 1024 * 1024, 1));
  await s3.putObject(BUCKET, 'small.txt', 'small');
}, 60_000);

afterAll(async () => {
  await s3?.stop();
});

describe('createS3Storage: resources', () => {
  it('one signal shared by many reads, failures and early destroys keeps no listener and no socket', async () => {
    const storage = createS3Storage({ client, bucket: BUCKET });
    const controller = new AbortController();
    const { signal } = controller;
    // Warm up the client's connection pool.
    for await (const _ of (await storage.open({ key: 'small.txt' }, { signal })).stream);
    const listenersBefore = getEventListeners(signal, 'abort').length;
    const fdsBefore = openFds();
    for (let round = 0; round < 20; round += 1) {
      const read = await storage.open({ key: 'small.txt' }, { signal });
      for await (const _ of read.stream);
      await expect(storage.open({ key: 'missing.txt' }, { signal })).rejects.toMatchObject({
        code: 'FILE_NOT_FOUND',
      });
      // A consumer that gives up after the first chunk (e.g. a sibling failed).
      const big = await storage.open({ key: 'big.bin' }, { signal });
      await new Promise<void>((resolve) => big.stream.once('data', () => resolve()));
      big.stream.destroy();
    }
    // Destroyed streams and sockets close asynchronously: give them a moment.
    const settled = () =>
      openFds() <= fdsBefore && getEventListeners(signal, 'abort').length === listenersBefore;
    for (let tries = 0; tries < 100 && !settled(); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(getEventListeners(signal, 'abort').length).toBe(listenersBefore);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  });
});
