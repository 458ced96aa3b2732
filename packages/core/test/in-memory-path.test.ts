import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Destination, type Storage, UploadError, type Validator } from '@ncr-upload/core';
import { createBuiltinValidator, createFolderDestination, createFolderStorage } from '@ncr-upload/core/fs';
import { sha256 } from '@ncr-upload/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, sampleFiles } from './support/fixture.js';
import { readZip } from './support/zip.js';

const job = (job_id: string) => ({ job_id, username: 'alice', campaign: 'spring' });

/** Counts the ports' calls that show which path a job took. */
function counted(storage: Storage, validator: Validator) {
  const calls = { open: 0, read: 0, readInto: 0, validate: 0, validateBuffer: 0 };
  const { read, readInto } = storage;
  // Only the capabilities the storage has: a missing one makes the pipeline take another way.
  const countedStorage: Storage = {
    ...storage,
    open: (file, options) => {
      calls.open += 1;
      return storage.open(file, options);
    },
    read: read
      ? (file, options) => {
          calls.read += 1;
          return read(file, options);
        }
      : undefined,
    readInto: readInto
      ? (file, target, options) => {
          calls.readInto += 1;
          return readInto(file, target, options);
        }
      : undefined,
  };
  const countedValidator: Validator = {
    validate: (archive, job, options) => {
      calls.validate += 1;
      return validator.validate(archive, job, options);
    },
    validateBuffer: (archive, job, options) => {
      calls.validateBuffer += 1;
      return (validator.validateBuffer as NonNullable<Validator['validateBuffer']>)(archive, job, options);
    },
  };
  return { calls, storage: countedStorage, validator: countedValidator };
}

/** A destination whose first `failures` streamed uploads fail at commit with a retryable error. */
function failingCommits(inner: Destination, failures: number): Destination {
  let failed = 0;
  return {
    ...inner,
    async beginUpload(remotePath, options) {
      const session = await (inner.beginUpload as NonNullable<Destination['beginUpload']>)(
        remotePath,
        options,
      );
      return {
        ...session,
        async commit(summary) {
          if (failed < failures) {
            failed += 1;
            await session.abort();
            throw new UploadError('CONNECTION_ERROR', 'The connection to the destination dropped.', {
              retryable: true,
            });
          }
          return session.commit(summary);
        },
      };
    },
  };
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(folder.length + 1))
    .sort();
}

describe('small jobs run in memory (inMemoryMaxBytes)', () => {
  let fixture: Fixture;
  beforeEach(async () => {
    fixture = await createFixture();
  });
  afterEach(async () => {
    await fixture.cleanup();
  });

  const ports = (failures = 0) => {
    const probe = counted(createFolderStorage({ root: fixture.storageRoot }), createBuiltinValidator());
    const destination = failingCommits(createFolderDestination({ root: fixture.outbox }), failures);
    return { probe, destination };
  };

  it('delivers the same zip without a task folder, a local zip or a re-read', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-memory'), files);
    const { probe, destination } = ports();
    const pipeline = fixture.pipeline({
      storage: probe.storage,
      validator: probe.validator,
      destination,
    });
    await pipeline.start();
    const { task_id } = await pipeline.submit(job('job-memory'));
    const record = await pipeline.waitFor(task_id);
    expect(record.state).toBe('succeeded');
    expect(record.progress).toMatchObject({ percent: 100, files_total: 4 });
    expect(probe.calls).toEqual({ open: 0, read: 0, readInto: 4, validate: 0, validateBuffer: 1 });
    expect(await fixture.tempEntries()).toEqual([]);
    expect(await listFiles(fixture.outbox)).toEqual(['spring/alice/job-memory.zip']);
    const delivered = join(fixture.outbox, 'spring/alice/job-memory.zip');
    expect(sha256(await readFile(delivered))).toBe(record.result?.sha256);
    const entries = await readZip(delivered);
    for (const [name, bytes] of Object.entries(files)) {
      expect(sha256(entries.get(`spring/alice/job-memory/${name}`) as Buffer), name).toBe(sha256(bytes));
    }
  });

  it('gives the same bytes as the disk path', async () => {
    await fixture.seed(job('job-same'), sampleFiles());
    const sums: string[] = [];
    for (const inMemoryMaxBytes of [0, 1024 * 1024]) {
      const pipeline = fixture.pipeline({ inMemoryMaxBytes });
      await pipeline.start();
      const record = await pipeline.waitFor((await pipeline.submit(job('job-same'))).task_id);
      expect(record.state).toBe('succeeded');
      sums.push(record.result?.sha256 as string);
      await pipeline.close();
    }
    expect(sums[0]).toBe(sums[1]);
  });

  it('gives the same bytes whether files are read into the zip, read whole and copied, or go through the writer', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-ways'), files);
    const folder = createFolderStorage({ root: fixture.storageRoot });
    const ways: { name: string; storage: Storage; compression?: 'store' | 'auto'; used: string }[] = [
      { name: 'readInto', storage: folder, used: 'readInto' },
      { name: 'read and copy', storage: { ...folder, readInto: undefined }, used: 'read' },
      { name: 'open and copy', storage: { ...folder, readInto: undefined, read: undefined }, used: 'open' },
      // `auto` deflates the .txt entries: the streaming writer, other bytes (checked by unzipping).
      { name: 'writer (auto)', storage: folder, compression: 'auto', used: 'read' },
    ];
    const sums = new Map<string, string>();
    for (const way of ways) {
      const probe = counted(way.storage, createBuiltinValidator());
      const pipeline = fixture.pipeline({
        storage: probe.storage,
        validator: probe.validator,
        ...(way.compression ? { compression: way.compression } : {}),
      });
      await pipeline.start();
      const record = await pipeline.waitFor((await pipeline.submit(job('job-ways'))).task_id);
      expect(record.state, way.name).toBe('succeeded');
      expect(probe.calls.validateBuffer, way.name).toBe(1);
      expect(probe.calls[way.used as 'open' | 'read' | 'readInto'], way.name).toBe(4);
      const entries = await readZip(join(fixture.outbox, 'spring/alice/job-ways.zip'));
      for (const [name, bytes] of Object.entries(files)) {
        expect(sha256(entries.get(`spring/alice/job-ways/${name}`) as Buffer), `${way.name}: ${name}`).toBe(
          sha256(bytes),
        );
      }
      sums.set(way.name, record.result?.sha256 as string);
      await pipeline.close();
    }
    expect(sums.get('read and copy')).toBe(sums.get('readInto'));
    expect(sums.get('open and copy')).toBe(sums.get('readInto'));
    expect(sums.get('writer (auto)')).not.toBe(sums.get('readInto'));
  });

  it('a retry reuses the zip in memory: nothing is read again', async () => {
    await fixture.seed(job('job-retry'), sampleFiles());
    const { probe, destination } = ports(1);
    const pipeline = fixture.pipeline({ storage: probe.storage, validator: probe.validator, destination });
    await pipeline.start();
    const record = await pipeline.waitFor((await pipeline.submit(job('job-retry'))).task_id);
    expect(record.state).toBe('succeeded');
    expect(record.attempts).toBe(2);
    expect(probe.calls).toEqual({ open: 0, read: 0, readInto: 4, validate: 0, validateBuffer: 2 });
    expect(await listFiles(fixture.outbox)).toEqual(['spring/alice/job-retry.zip']);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('a rejected archive writes nothing at the destination', async () => {
    await fixture.seed(job('job-refused'), sampleFiles());
    const pipeline = fixture.pipeline({ validator: createBuiltinValidator({ allowedExtensions: ['pdf'] }) });
    await pipeline.start();
    const record = await pipeline.waitFor((await pipeline.submit(job('job-refused'))).task_id);
    expect(record.state).toBe('rejected');
    expect(record.attempts).toBe(1);
    expect(record.error).toMatchObject({ code: 'VALIDATION_REJECTED', stage: 'validate' });
    expect(await listFiles(fixture.outbox).catch(() => [])).toEqual([]);
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('a job above the limit takes the disk path', async () => {
    await fixture.seed(job('job-big'), sampleFiles());
    const { probe, destination } = ports();
    const pipeline = fixture.pipeline({
      storage: probe.storage,
      validator: probe.validator,
      destination,
      inMemoryMaxBytes: 100 * 1024,
    });
    await pipeline.start();
    const record = await pipeline.waitFor((await pipeline.submit(job('job-big'))).task_id);
    expect(record.state).toBe('succeeded');
    expect(probe.calls).toMatchObject({ open: 4, read: 0, readInto: 0, validateBuffer: 0 });
    expect(await fixture.tempEntries()).toEqual([]);
  });

  it('a file that changed size since it was listed (longer or shorter) fails with SIZE_MISMATCH', async () => {
    const files = sampleFiles();
    await fixture.seed(job('job-grew'), files);
    const storage = createFolderStorage({ root: fixture.storageRoot });
    // Longer and shorter than listed: a large file (read through the pool) and a small one (synchronous reads).
    for (const name of ['front.jpg', 'docs/manifest.txt'] as const) {
      for (const change of [-1, 1]) {
        const pipeline = fixture.pipeline({
          storage,
          catalog: {
            listFiles: async () => [
              { key: `spring/alice/job-grew/${name}`, size: files[name].length + change },
              { key: 'spring/alice/job-grew/back.jpg', size: files['back.jpg'].length },
            ],
          },
          retry: { attempts: 1 },
        });
        await pipeline.start();
        const record = await pipeline.waitFor((await pipeline.submit(job('job-grew'))).task_id);
        expect(record.state, `${name} ${change}`).toBe('failed');
        expect(record.error, `${name} ${change}`).toMatchObject({ code: 'SIZE_MISMATCH', stage: 'fetch' });
        expect(await listFiles(fixture.outbox).catch(() => [])).toEqual([]);
        await pipeline.close();
      }
    }
  });

  it('refuses a negative inMemoryMaxBytes', () => {
    expect(() => fixture.pipeline({ inMemoryMaxBytes: -1 })).toThrow(/inMemoryMaxBytes/);
  });
});
