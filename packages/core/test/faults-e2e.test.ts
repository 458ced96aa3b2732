import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { createUploadPipeline, type UploadPipeline } from '@ncr-upload/core';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { createS3Catalog, createS3Storage, s3ClientOptionsForCompatible } from '@ncr-upload/core/s3';
import { createSftpDestination, type SftpDestination } from '@ncr-upload/core/sftp';
import { randomBytesOf, sha256 } from '@ncr-upload/core/testing';
import { type FaultProxy, startFaultProxy } from '@ncr-upload/test-kit/fault-proxy';
import { type RunningS3rver, startS3rver } from '@ncr-upload/test-kit/s3rver';
import { type SshdServer, startSshd } from '@ncr-upload/test-kit/sshd';
import { type StubStep, startValidatorStub, type ValidatorStub } from '@ncr-upload/test-kit/validator';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readZip, sha256OfFile } from './support/zip.js';

/**
 * Fault injection on the real path: connections cut mid-transfer (S3 reads,
 * SFTP uploads), refused connections and validator error bursts. Nothing is
 * lost, nothing is duplicated, and no partial file ever has a final name.
 */
describe('faults on the real path', () => {
  let s3: RunningS3rver;
  let sshd: SshdServer;
  let s3Proxy: FaultProxy;
  let sftpProxy: FaultProxy;
  const files: Record<string, Buffer> = {
    'a.bin': randomBytesOf(2 * 1024 * 1024),
    'b.bin': randomBytesOf(3 * 1024 * 1024),
    'c.txt': Buffer.from('c'.repeat(10_000)),
  };
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    [s3, sshd] = await Promise.all([startS3rver(), startSshd()]);
    [s3Proxy, sftpProxy] = await Promise.all([
      startFaultProxy({ port: s3.port }),
      startFaultProxy({ port: sshd.port }),
    ]);
    await s3.createBucket('faults');
    for (const jobId of ['f-s3', 'f-sftp', 'f-refused', 'f-burst', 'f-burst-fail']) {
      for (const [name, body] of Object.entries(files))
        await s3.putObject('faults', `c/u/${jobId}/${name}`, body);
    }
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    s3Proxy.plan({});
    sftpProxy.plan({});
  });

  afterAll(async () => {
    await Promise.allSettled([s3Proxy?.close(), sftpProxy?.close()]);
    await Promise.allSettled([s3?.stop(), sshd?.stop()]);
  });

  async function build(script: StubStep[] = []): Promise<{ pipeline: UploadPipeline; stub: ValidatorStub }> {
    const stub = await startValidatorStub({ script });
    const client = new S3Client(
      s3ClientOptionsForCompatible({
        endpoint: `http://127.0.0.1:${s3Proxy.port}`,
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      }),
    );
    const destination: SftpDestination = createSftpDestination({
      host: '127.0.0.1',
      port: sftpProxy.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostFingerprint: sshd.hostFingerprint,
      remoteDir: 'faults',
    });
    const storage = createS3Storage({ client, bucket: 'faults' });
    const pipeline = createUploadPipeline({
      storage,
      catalog: createS3Catalog({ storage }),
      validator: createHttpValidator({ url: stub.url }),
      destination,
      retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(
      () => stub.close(),
      async () => client.destroy(),
      () => destination.close(),
      () => pipeline.close({ timeoutMs: 1000 }),
    );
    await pipeline.start();
    return { pipeline, stub };
  }

  async function expectDeliveredOnce(jobId: string, sha: string | undefined) {
    const folder = join(sshd.root, 'faults', 'c', 'u');
    const names = (await readdir(folder)).filter((name) => name.startsWith(jobId));
    expect(names).toEqual([`${jobId}.zip`]);
    const path = join(folder, `${jobId}.zip`);
    expect(await sha256OfFile(path)).toBe(sha);
    const entries = await readZip(path);
    for (const [name, bytes] of Object.entries(files)) {
      expect(sha256(entries.get(`c/u/${jobId}/${name}`) as Buffer)).toBe(sha256(bytes));
    }
  }

  it('an S3 connection cut mid-object is retried and the zip holds every byte', async () => {
    const { pipeline } = await build();
    s3Proxy.plan({ drop: 1, afterBytes: 1024 * 1024 });
    const { task_id } = await pipeline.submit({ job_id: 'f-s3', username: 'u', campaign: 'c' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.error).toBeNull();
    expect(record.state).toBe('succeeded');
    expect(s3Proxy.faults).toBeGreaterThanOrEqual(1);
    await expectDeliveredOnce('f-s3', record.result?.sha256);
  });

  it('an SFTP connection cut mid-upload is retried: one complete file, no .partial left', async () => {
    const { pipeline } = await build();
    const before = sftpProxy.faults;
    sftpProxy.plan({ drop: 1, afterBytes: 2 * 1024 * 1024 });
    const { task_id } = await pipeline.submit({ job_id: 'f-sftp', username: 'u', campaign: 'c' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(2);
    expect(sftpProxy.faults - before).toBe(1);
    await expectDeliveredOnce('f-sftp', record.result?.sha256);
  });

  it('refused SFTP connections are retried until the server takes them', async () => {
    const { pipeline } = await build();
    const before = sftpProxy.faults;
    sftpProxy.plan({ refuse: 2 });
    const { task_id } = await pipeline.submit({ job_id: 'f-refused', username: 'u', campaign: 'c' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.error).toBeNull();
    expect(record.state).toBe('succeeded');
    expect(sftpProxy.faults - before).toBe(2);
    await expectDeliveredOnce('f-refused', record.result?.sha256);
  });

  it('a burst of validator 5xx answers is ridden out within the attempts', async () => {
    const { pipeline, stub } = await build([500, 502]);
    const { task_id } = await pipeline.submit({ job_id: 'f-burst', username: 'u', campaign: 'c' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(3);
    expect(stub.requests.map((request) => request.step)).toEqual([500, 502, 'ok']);
    await expectDeliveredOnce('f-burst', record.result?.sha256);
  });

  it('a burst longer than the attempts fails the task and delivers nothing', async () => {
    const { pipeline, stub } = await build([503, 503, 503]);
    const { task_id } = await pipeline.submit({ job_id: 'f-burst-fail', username: 'u', campaign: 'c' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.state).toBe('failed');
    expect(record.attempts).toBe(3);
    expect(record.error).toMatchObject({ code: 'VALIDATOR_ERROR', retryable: true, stage: 'validate' });
    expect(stub.requests).toHaveLength(3);
    const names = await readdir(join(sshd.root, 'faults', 'c', 'u')).catch(() => [] as string[]);
    expect(names.filter((name) => name.startsWith('f-burst-fail'))).toEqual([]);
  });
});
