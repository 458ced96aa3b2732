import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploadPipeline, type Storage, type UploadPipeline } from '@ncr-upload/core';
import { createFolderStorage, createPrefixCatalog } from '@ncr-upload/core/fs';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { createSftpDestination } from '@ncr-upload/core/sftp';
import { randomBytesOf, sha256 } from '@ncr-upload/core/testing';
import { type FaultProxy, startFaultProxy } from '@ncr-upload/test-kit/fault-proxy';
import { type SshdServer, startSshd } from '@ncr-upload/test-kit/sshd';
import { type StubStep, startValidatorStub } from '@ncr-upload/test-kit/validator';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readZip, sha256OfFile } from './support/zip.js';

/**
 * The single pass against real servers: the zip streams to the validator stub
 * (chunked) and to OpenSSH sshd (`.partial`) at once. A refusal before the end
 * of the body, a validator that hangs up, an SFTP connection cut mid-stream:
 * nothing ever appears under the final name unless accepted, no `.partial`
 * stays, and a retry reads the task's local zip instead of the storage.
 */
describe('single pass: faults', () => {
  let sshd: SshdServer;
  let proxy: FaultProxy;
  let storageRoot: string;
  const files: Record<string, Buffer> = {
    'a.bin': randomBytesOf(3 * 1024 * 1024),
    'b.jpg': randomBytesOf(2 * 1024 * 1024),
    'c.csv': Buffer.from('id;value\n'.repeat(20_000)),
  };
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
    proxy = await startFaultProxy({ port: sshd.port });
    storageRoot = await mkdtemp(join(tmpdir(), 'ncr-single-pass-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    proxy.plan({});
  });
  afterAll(async () => {
    await proxy?.close();
    await sshd?.stop();
    await rm(storageRoot, { recursive: true, force: true });
  });

  async function build(
    jobId: string,
    script: StubStep[],
    mode: 'raw' | 'multipart' = 'multipart',
    uploadThread = false,
  ) {
    for (const [name, bytes] of Object.entries(files)) {
      await mkdir(join(storageRoot, 'c', 'u', jobId), { recursive: true });
      await writeFile(join(storageRoot, 'c', 'u', jobId, name), bytes);
    }
    const stub = await startValidatorStub({ script });
    const folder = createFolderStorage({ root: storageRoot });
    const opened: string[] = [];
    const storage: Storage = {
      ...folder,
      open: (file, options) => {
        opened.push(file.key);
        return folder.open(file, options);
      },
    };
    const destination = createSftpDestination({
      host: '127.0.0.1',
      port: proxy.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostFingerprint: sshd.hostFingerprint,
      remoteDir: 'single',
      uploadThread,
    });
    const pipeline: UploadPipeline = createUploadPipeline({
      storage,
      catalog: createPrefixCatalog({ storage: folder }),
      validator: createHttpValidator({ url: stub.url, mode }),
      destination,
      workDir: join(storageRoot, 'work'),
      retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(
      () => stub.close(),
      () => destination.close(),
      () => pipeline.close({ timeoutMs: 1000 }),
    );
    await pipeline.start();
    const { task_id } = await pipeline.submit({ job_id: jobId, username: 'u', campaign: 'c' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    const delivered = await readdir(join(sshd.root, 'single', 'c', 'u')).catch(() => [] as string[]);
    return { record, stub, opened, delivered: delivered.filter((name) => name.startsWith(jobId)) };
  }

  async function expectDelivered(jobId: string, sha: string | undefined) {
    const path = join(sshd.root, 'single', 'c', 'u', `${jobId}.zip`);
    expect(await sha256OfFile(path)).toBe(sha);
    const entries = await readZip(path);
    for (const [name, bytes] of Object.entries(files)) {
      expect(sha256(entries.get(`c/u/${jobId}/${name}`) as Buffer)).toBe(sha256(bytes));
    }
  }

  it.each([413, 422])(
    'a validator answering %i before reading the whole body rejects the task; the upload is aborted',
    async (status) => {
      const jobId = `early-${status}`;
      const { record, stub, delivered } = await build(jobId, [{ early: status }]);
      expect(record.state).toBe('rejected');
      expect(record.attempts).toBe(1);
      expect(record.error).toMatchObject({
        code: 'VALIDATION_REJECTED',
        stage: 'validate',
        details: { http_status: status, answered_early: true, errors: [{ code: `STUB_${status}` }] },
      });
      expect(stub.requests).toHaveLength(1);
      expect(delivered).toEqual([]);
    },
  );

  it('a validator that hangs up mid-body is retried from the local zip, not the storage', async () => {
    const jobId = 'close-early';
    const { record, stub, opened, delivered } = await build(jobId, ['close-early'], 'raw');
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(2);
    expect(stub.requests.map((request) => request.step)).toEqual(['close-early', 'ok']);
    expect(opened.sort()).toEqual(Object.keys(files).map((name) => `c/u/${jobId}/${name}`));
    expect(delivered).toEqual([`${jobId}.zip`]);
    await expectDelivered(jobId, record.result?.sha256);
  });

  it.each([
    ['on the main thread', false],
    ['on the upload thread', true],
  ])(
    'an SFTP connection cut mid-stream (upload %s) fails the attempt and retries from the local zip',
    async (_label, uploadThread) => {
      proxy.plan({ drop: 1, afterBytes: 2 * 1024 * 1024 });
      const jobId = `sftp-cut-${uploadThread}`;
      const before = proxy.faults;
      const { record, stub, opened, delivered } = await build(jobId, [], 'multipart', uploadThread);
      expect(proxy.faults - before).toBe(1);
      expect(record.error ?? null).toBeNull();
      expect(record.state).toBe('succeeded');
      expect(record.attempts).toBe(2);
      // On the main thread the failed write stops the pass at once: the first request is cut short
      // (cancelled) and only the second reaches a verdict. The upload thread learns of the cut up to
      // 4 MiB later, so with this 5 MiB zip the first verdict may already be in; it is not delivered.
      const verdicts = stub.requests.filter((request) => request.result).length;
      expect(uploadThread ? [1, 2] : [1]).toContain(verdicts);
      expect(opened.sort()).toEqual(Object.keys(files).map((name) => `c/u/${jobId}/${name}`));
      expect(delivered).toEqual([`${jobId}.zip`]);
      await expectDelivered(jobId, record.result?.sha256);
    },
  );
});
