import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { startValidatorStub, type ValidatorStub } from '@ncr-upload/test-kit/validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMultipart } from '../../../examples/validator-server/multipart-parser.mjs';
import type { JobRequest } from '../src/job.js';
import type { ArchiveInfo } from '../src/ports/validator.js';
import { hostileZip, symlinkZip } from './fs-hostile-zips.js';

const job: JobRequest = { job_id: 'job-h', username: 'eve', campaign: 'winter' };
let dir: string;
let counter = 0;
let stub: ValidatorStub;

async function archiveOf(bytes: Buffer): Promise<ArchiveInfo> {
  counter += 1;
  const path = join(dir, `hostile-${counter}.zip`);
  await writeFile(path, bytes);
  return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), entries: [] };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'http-validator-hostile-'));
  stub = await startValidatorStub({ allowedExtensions: ['.txt'] });
});

afterAll(async () => {
  await stub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the reference validator on hostile zips', () => {
  it('rejects a symbolic link entry', async () => {
    const verdict = await createHttpValidator({ url: stub.url }).validate(await archiveOf(symlinkZip()), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors).toEqual([expect.objectContaining({ code: 'UNSAFE_NAME', path: 'job/link.txt' })]);
  });

  it('rejects duplicate names', async () => {
    const zip = hostileZip([
      { name: 'job/a.txt', data: Buffer.from('one') },
      { name: 'job/a.txt', data: Buffer.from('two') },
    ]);
    const verdict = await createHttpValidator({ url: stub.url }).validate(await archiveOf(zip), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors).toEqual([expect.objectContaining({ code: 'DUPLICATE_NAME', path: 'job/a.txt' })]);
  });

  it('a zip of many bad entries is a rejection with a bounded reply, not a validator failure', async () => {
    const zip = hostileZip(
      Array.from({ length: 20_000 }, (_, index) => ({ name: `f${index}.exe`, data: Buffer.from('x') })),
    );
    const verdict = await createHttpValidator({ url: stub.url }).validate(await archiveOf(zip), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors.length).toBeLessThanOrEqual(100);
    expect(verdict.details).toMatchObject({ files: 20_000, truncated: true });
  });

  it('rejects a ratio bomb that lies about its size', async () => {
    const zip = hostileZip([
      { name: 'bomb.txt', data: Buffer.alloc(64 * 1024 * 1024), deflate: true, declaredSize: 1024 },
    ]);
    const verdict = await createHttpValidator({ url: stub.url }).validate(await archiveOf(zip), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors.map((error) => error.code)).toEqual(['CORRUPT_ENTRY']);
  });

  it('rejects an encrypted entry', async () => {
    const zip = hostileZip([{ name: 'secret.txt', data: Buffer.from('x'), flags: 0x801 }]);
    const verdict = await createHttpValidator({ url: stub.url }).validate(await archiveOf(zip), job);
    expect(verdict.valid).toBe(false);
  });
});

describe('the reference multipart parser', () => {
  it('keeps memory bounded when the boundary never comes', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    // Collect garbage before each sample, so only what the parser still holds is counted.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let peak = 0;
    async function* body() {
      for (let index = 0; index < 96; index += 1) {
        if (index % 8 === 7) {
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        }
        yield chunk;
      }
    }
    gc();
    const before = process.memoryUsage().arrayBuffers;
    await expect(parseMultipart(body(), 'no-such-boundary', { openFile: () => null })).rejects.toThrow(
      /ended before its closing boundary/,
    );
    // Before the fix the whole body was kept (and copied on every chunk).
    expect(peak - before).toBeLessThan(32 * 1024 * 1024);
  });
});
