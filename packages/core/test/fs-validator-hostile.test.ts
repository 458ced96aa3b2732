import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltinValidator, createBuiltinValidator } from '../src/fs/index.js';
import type { ArchiveInfo, Verdict } from '../src/ports/validator.js';
import { makeJob, sha256 } from '../src/testing/index.js';
import { hostileZip, symlinkZip } from './fs-hostile-zips.js';

let dir: string;
let counter = 0;
const job = makeJob();
const codes = (verdict: Verdict) => verdict.errors.map((error) => error.code);

async function archiveOf(bytes: Buffer): Promise<ArchiveInfo> {
  counter += 1;
  const path = join(dir, `hostile-${counter}.zip`);
  await writeFile(path, bytes);
  return { path, size: bytes.length, sha256: sha256(bytes), entries: [] };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncr-fs-hostile-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// The same rules whether the zip is a local file (`validate`) or held in memory (`validateBuffer`).
describe.each([{ input: 'a local file' }, { input: 'a buffer in memory' }])(
  'createBuiltinValidator on hostile zips, as $input',
  ({ input }) => {
    const check = async (validator: BuiltinValidator, bytes: Buffer) => {
      const archive = await archiveOf(bytes);
      return input === 'a local file'
        ? validator.validate(archive, job)
        : validator.validateBuffer({ ...archive, data: bytes }, job);
    };

    it('refuses a symbolic link entry (unzipping it would create a link that can point anywhere)', async () => {
      const verdict = await check(createBuiltinValidator(), symlinkZip());
      expect(verdict.valid).toBe(false);
      expect(verdict.errors).toEqual([
        expect.objectContaining({ code: 'UNSAFE_PATH', path: 'job/link.txt' }),
      ]);
    });

    it('accepts regular files with Unix modes', async () => {
      const zip = hostileZip([{ name: 'job/a.txt', data: Buffer.from('a'), unixMode: 0o100755 }]);
      expect(await check(createBuiltinValidator(), zip)).toMatchObject({ valid: true });
    });

    it('stops a ratio bomb that lies about its size without inflating it all', async () => {
      // 64 MiB of zeros deflate to ~64 KiB; the entry claims 1 KiB.
      const zip = hostileZip([
        { name: 'bomb.txt', data: Buffer.alloc(64 * 1024 * 1024), deflate: true, declaredSize: 1024 },
      ]);
      const verdict = await check(createBuiltinValidator(), zip);
      expect(codes(verdict)).toEqual(['CORRUPT_ZIP']);
      expect((verdict.details as { bytes: number }).bytes).toBeLessThanOrEqual(1024);
    });

    it('refuses a huge declared size before reading, under maxTotalBytes', async () => {
      const zip = hostileZip([
        { name: 'huge.bin', data: Buffer.from('x'), deflate: true, declaredSize: 0xfffffff0 },
      ]);
      const limited = await check(createBuiltinValidator({ maxTotalBytes: 1024 * 1024 }), zip);
      expect(codes(limited)).toEqual(['TOO_LARGE']);
      const unlimited = await check(createBuiltinValidator(), zip);
      expect(codes(unlimited)).toEqual(['CORRUPT_ZIP']);
    });

    it('lists at most 100 errors for a zip of many bad entries', async () => {
      const zip = hostileZip(
        Array.from({ length: 5000 }, (_, index) => ({ name: `f${index}.exe`, data: Buffer.from('x') })),
      );
      const verdict = await check(createBuiltinValidator({ allowedExtensions: ['txt'] }), zip);
      expect(verdict.errors).toHaveLength(100);
      expect(verdict.details).toMatchObject({ truncated: true, files: 5000 });
    });
  },
);
