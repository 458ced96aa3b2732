import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { createUploadPipeline, type UploadPipeline } from '@ncr-upload/core';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { createMysqlCatalog } from '@ncr-upload/core/mysql';
import { createS3Storage } from '@ncr-upload/core/s3';
import { createSftpDestination, type SftpDestination } from '@ncr-upload/core/sftp';
import { randomBytesOf, sha256 } from '@ncr-upload/core/testing';
import { createTestDatabase, type TestDatabase } from '@ncr-upload/test-kit/mariadb';
import { type RunningS3rver, startS3rver } from '@ncr-upload/test-kit/s3rver';
import { type SshdServer, startSshd } from '@ncr-upload/test-kit/sshd';
import { type StubStep, startValidatorStub, type ValidatorStub } from '@ncr-upload/test-kit/validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip, sha256OfFile } from './support/zip.js';

const run = promisify(execFile);
const schema = new URL('../../../examples/mysql/schema.sql', import.meta.url);
const REPORT_SQL =
  'UPDATE jobs SET status = :state, task_id = :task_id, remote_path = :remote_path, sha256 = :sha256, size = :size, ' +
  'error_code = :error_code, error = :error_message WHERE job_id = :job_id';

/**
 * The whole production path on real servers: rows in MariaDB → objects in
 * s3rver → zip → the reference validator over HTTP → OpenSSH sshd over SFTP,
 * then the delivered zip is checked with Info-ZIP's `unzip -t`.
 */
describe('end to end through MariaDB, S3, the HTTP validator and SFTP', () => {
  let s3: RunningS3rver;
  let client: S3Client;
  let sshd: SshdServer;
  let database: TestDatabase;
  const open: { pipeline?: UploadPipeline; destination?: SftpDestination; stub?: ValidatorStub }[] = [];
  const objects: Record<string, Buffer> = {};

  beforeAll(async () => {
    [s3, sshd, database] = await Promise.all([startS3rver(), startSshd(), createTestDatabase()]);
    client = s3.client();
    await s3.createBucket('uploads');
    await database.exec(await readFile(schema, 'utf8'));
    objects['incoming/j-e2e/photo-front.jpg'] = randomBytesOf(5 * 1024 * 1024);
    objects['incoming/j-e2e/photo-back.jpg'] = randomBytesOf(700 * 1024);
    objects['incoming/j-e2e/notes.txt'] = Buffer.from('row 42 notes\n'.repeat(100));
    for (const [key, body] of Object.entries(objects)) await s3.putObject('uploads', key, body);
    for (let index = 0; index < 24; index += 1) {
      await s3.putObject('uploads', `incoming/j-many/part-${index}.bin`, randomBytesOf(1024 * 1024));
    }
    await database.pool.query(
      "INSERT INTO jobs (job_id, row_id, username, campaign) VALUES ('j-many', 43, 'alice', 'spring')",
    );
    for (let index = 0; index < 24; index += 1) {
      await database.pool.query(
        'INSERT INTO job_files (job_id, file_key, file_size, folder) VALUES (?, ?, ?, ?)',
        ['j-many', `incoming/j-many/part-${index}.bin`, 1024 * 1024, 'parts'],
      );
    }
    for (const jobId of ['j-e2e', 'j-retry', 'j-reject']) {
      await database.pool.query(
        'INSERT INTO jobs (job_id, row_id, username, campaign) VALUES (?, 42, ?, ?)',
        [jobId, 'alice', 'spring'],
      );
      for (const [key, body] of Object.entries(objects)) {
        const folder = key.endsWith('.txt') ? 'docs' : 'photos';
        await database.pool.query(
          'INSERT INTO job_files (job_id, file_key, file_size, folder) VALUES (?, ?, ?, ?)',
          [jobId, key, body.length, folder],
        );
      }
    }
  });

  afterAll(async () => {
    for (const item of open) {
      await item.pipeline?.close({ timeoutMs: 1000 });
      await item.destination?.close?.();
      await item.stub?.close();
    }
    await Promise.allSettled([s3?.stop(), sshd?.stop(), database?.drop()]);
  });

  async function build(script: StubStep[], options: { inMemoryMaxBytes?: number } = {}) {
    const stub = await startValidatorStub({ script });
    const destination = createSftpDestination({
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostFingerprint: sshd.hostFingerprint,
    });
    const pipeline = createUploadPipeline({
      catalog: createMysqlCatalog({ pool: database.pool, reportResultSql: REPORT_SQL }),
      storage: createS3Storage({ client, bucket: 'uploads' }),
      validator: createHttpValidator({ url: stub.url }),
      destination,
      retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
      ...options,
    });
    open.push({ pipeline, destination, stub });
    await pipeline.start();
    return { pipeline, stub };
  }

  const row = async (jobId: string) => {
    const [rows] = await database.pool.query(
      'SELECT status, task_id, remote_path, sha256, size, error_code FROM jobs WHERE job_id = ?',
      [jobId],
    );
    return (rows as Record<string, unknown>[])[0];
  };

  it('delivers a zip that unzip -t accepts, with the sha256 the status reports, and writes the result back', async () => {
    const { pipeline, stub } = await build([]);
    const { task_id } = await pipeline.submit({
      job_id: 'j-e2e',
      username: 'alice',
      campaign: 'spring',
      row_id: 42,
    });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.error).toBeNull();
    expect(record.state).toBe('succeeded');
    expect(record.result?.remote_path).toBe('spring/alice/j-e2e.zip');

    const delivered = join(sshd.root, 'spring/alice/j-e2e.zip');
    const { stdout } = await run('unzip', ['-t', delivered]);
    expect(stdout).toContain('No errors detected');
    expect(await sha256OfFile(delivered)).toBe(record.result?.sha256);
    expect(stub.requests[0]?.sha256).toBe(record.result?.sha256);

    const entries = await readZip(delivered);
    expect(sha256(entries.get('spring/alice/j-e2e/photos/photo-front.jpg') as Buffer)).toBe(
      sha256(objects['incoming/j-e2e/photo-front.jpg'] as Buffer),
    );
    expect(
      entries.get('spring/alice/j-e2e/docs/notes.txt')?.equals(objects['incoming/j-e2e/notes.txt'] as Buffer),
    ).toBe(true);
    expect(entries.size).toBe(3);
    expect((await readdir(join(sshd.root, 'spring/alice'))).filter((name) => name.includes('j-e2e'))).toEqual(
      ['j-e2e.zip'],
    );

    expect(await row('j-e2e')).toMatchObject({
      status: 'succeeded',
      task_id,
      remote_path: 'spring/alice/j-e2e.zip',
      sha256: record.result?.sha256,
    });
  });

  it('streams a job of 24 files, 4 downloads at once, without a MaxListenersExceededWarning on the task signal', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      // 24 MiB in all, on the streaming path (fetch to disk, zip, stream), not the in-memory one.
      const { pipeline } = await build([], { inMemoryMaxBytes: 0 });
      const { task_id } = await pipeline.submit({ job_id: 'j-many', username: 'alice', campaign: 'spring' });
      const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
      expect(record.state).toBe('succeeded');
      expect((await readZip(join(sshd.root, 'spring/alice/j-many.zip'))).size).toBe(24);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((line) => line.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('retries a validator 503 and succeeds on the next answer', async () => {
    const { pipeline, stub } = await build([503]);
    const { task_id } = await pipeline.submit({ job_id: 'j-retry', username: 'alice', campaign: 'spring' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(2);
    expect(stub.requests.map((request) => request.step)).toEqual([503, 'ok']);
    expect(await sha256OfFile(join(sshd.root, 'spring/alice/j-retry.zip'))).toBe(record.result?.sha256);
  });

  it('marks a validator 422 as rejected, delivers nothing and reports it to the database', async () => {
    const { pipeline, stub } = await build([422]);
    await rm(join(sshd.root, 'spring/alice/j-reject.zip'), { force: true });
    const { task_id } = await pipeline.submit({ job_id: 'j-reject', username: 'alice', campaign: 'spring' });
    const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
    expect(record.state).toBe('rejected');
    expect(record.attempts).toBe(1);
    expect(record.error?.code).toBe('VALIDATION_REJECTED');
    expect(stub.requests).toHaveLength(1);
    const names = await readdir(join(sshd.root, 'spring/alice')).catch(() => [] as string[]);
    expect(names.filter((name) => name.startsWith('j-reject'))).toEqual([]);
    expect(await row('j-reject')).toMatchObject({
      status: 'rejected',
      error_code: 'VALIDATION_REJECTED',
      remote_path: null,
    });
  });
});
