import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinValidator } from '../src/fs/index.js';
import type { ArchiveInfo, Verdict } from '../src/ports/validator.js';
import { buildZip, makeJob, sha256, testValidator } from '../src/testing/index.js';
import { hostileZip } from './fs-hostile-zips.js';

let dir: string;
let counter = 0;

async function archiveOf(bytes: Buffer): Promise<ArchiveInfo> {
  counter += 1;
  const path = join(dir, `raw-${counter}.zip`);
  await writeFile(path, bytes);
  return { path, size: bytes.length, sha256: sha256(bytes), entries: [] };
}

const codes = (verdict: Verdict) => verdict.errors.map((error) => error.code);
const job = makeJob();

const text = (value: string) => Buffer.from(value);
/** Compressible and random content, so both inflate and stored paths are exercised. */
const goodFiles = () => ({
  'spring/alice/j1/cover.pdf': Buffer.alloc(200_000, 'a'),
  'spring/alice/j1/images/1.JPG': Buffer.from(
    Array.from({ length: 50_000 }, (_, index) => (index * 7919) % 251),
  ),
  'spring/alice/j1/manifest.json': text('{"ok":true}'),
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncr-fs-validator-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createBuiltinValidator', () => {
  it('accepts a good zip and reports what it read', async () => {
    const archive = await buildZip(dir, goodFiles());
    const verdict = await createBuiltinValidator().validate(archive, job);
    expect(verdict).toEqual({
      valid: true,
      errors: [],
      details: { files: 3, bytes: 250_011, complete: true },
    });
  });

  it('finds bytes flipped in the middle of a real zip (CORRUPT_ZIP, not a throw)', async () => {
    const archive = await buildZip(dir, goodFiles());
    const bytes = await readFile(archive.path);
    const middle = Math.floor(bytes.length / 2);
    for (let index = middle; index < middle + 16; index += 1) bytes[index] = bytes[index]! ^ 0xff;
    const verdict = await createBuiltinValidator().validate(await archiveOf(bytes), job);
    expect(verdict.valid).toBe(false);
    expect(codes(verdict)).toContain('CORRUPT_ZIP');
  });

  it('finds a wrong CRC-32 in a stored entry (yauzl itself does not check CRCs)', async () => {
    const zip = hostileZip([
      { name: 'good.txt', data: text('fine') },
      { name: 'bad.txt', data: text('tampered'), crc: crc32(text('original')) },
    ]);
    const verdict = await createBuiltinValidator().validate(await archiveOf(zip), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors).toEqual([
      { code: 'CORRUPT_ZIP', message: expect.stringContaining('CRC-32'), path: 'bad.txt' },
    ]);
  });

  it('rejects a truncated zip, a file that is not a zip, and an empty file', async () => {
    const bytes = await readFile((await buildZip(dir, goodFiles())).path);
    for (const broken of [
      bytes.subarray(0, Math.floor(bytes.length * 0.6)),
      text('not a zip at all'),
      Buffer.alloc(0),
    ]) {
      const verdict = await createBuiltinValidator().validate(await archiveOf(broken), job);
      expect(verdict.valid).toBe(false);
      expect(codes(verdict)).toEqual(['CORRUPT_ZIP']);
    }
  });

  it('gives the same verdict for the zip in memory (validateBuffer): good, flipped, bad CRC, truncated, not a zip', async () => {
    const good = await readFile((await buildZip(dir, goodFiles())).path);
    const flipped = Buffer.from(good);
    const middle = Math.floor(flipped.length / 2);
    for (let index = middle; index < middle + 16; index += 1) flipped[index] = flipped[index]! ^ 0xff;
    const badCrc = hostileZip([{ name: 'bad.txt', data: text('tampered'), crc: crc32(text('original')) }]);
    const validator = createBuiltinValidator();
    for (const bytes of [
      good,
      flipped,
      badCrc,
      good.subarray(0, good.length >> 1),
      text('no zip'),
      Buffer.alloc(0),
    ]) {
      const archive = await archiveOf(bytes);
      const fromFile = await validator.validate(archive, job);
      const fromMemory = await validator.validateBuffer({ ...archive, data: bytes }, job);
      expect(fromMemory).toEqual(fromFile);
    }
    const good2 = await validator.validateBuffer({ ...(await archiveOf(good)), data: good }, job);
    expect(good2.valid).toBe(true);
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      validator.validateBuffer({ ...(await archiveOf(good)), data: good }, job, { signal: aborted.signal }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('rejects an empty archive unless allowEmpty, and folders alone count as empty', async () => {
    for (const zip of [hostileZip([]), hostileZip([{ name: 'only-a-folder/' }])]) {
      const archive = await archiveOf(zip);
      expect(codes(await createBuiltinValidator().validate(archive, job))).toEqual(['EMPTY_ARCHIVE']);
      expect((await createBuiltinValidator({ allowEmpty: true }).validate(archive, job)).valid).toBe(true);
    }
  });

  it('checks extensions case-insensitively, with or without the dot', async () => {
    const archive = await buildZip(dir, {
      ...goodFiles(),
      'spring/alice/j1/run.EXE': text('MZ'),
      README: text('r'),
    });
    const validator = createBuiltinValidator({ allowedExtensions: ['.pdf', 'jpg', 'JSON'] });
    const verdict = await validator.validate(archive, job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors.map((error) => [error.code, error.path])).toEqual([
      ['DISALLOWED_EXTENSION', 'spring/alice/j1/run.EXE'],
      ['DISALLOWED_EXTENSION', 'README'],
    ]);
    const withNone = createBuiltinValidator({ allowedExtensions: ['pdf', 'jpg', 'json', 'exe', ''] });
    expect((await withNone.validate(archive, job)).valid).toBe(true);
    // A name that is only the extension has none: ".pdf" is a dot file.
    const dotFile = await archiveOf(hostileZip([{ name: '.pdf', data: text('x') }]));
    expect(
      codes(await createBuiltinValidator({ allowedExtensions: ['pdf'] }).validate(dotFile, job)),
    ).toEqual(['DISALLOWED_EXTENSION']);
  });

  it('allows multi-part extensions such as tar.gz', async () => {
    const archive = await archiveOf(hostileZip([{ name: 'a/backup.tar.gz', data: text('x') }]));
    expect(
      (await createBuiltinValidator({ allowedExtensions: ['tar.gz'] }).validate(archive, job)).valid,
    ).toBe(true);
  });

  it('reports missing required files by name or relative path', async () => {
    const archive = await buildZip(dir, goodFiles());
    const present = createBuiltinValidator({
      requiredFiles: ['manifest.json', 'images/1.JPG', 'spring/alice/j1/cover.pdf'],
    });
    expect((await present.validate(archive, job)).valid).toBe(true);
    const missing = createBuiltinValidator({
      requiredFiles: ['manifest.json', 'signature.sig', 'j1/images/2.jpg', 'anifest.json'],
    });
    const verdict = await missing.validate(archive, job);
    expect(verdict.errors.map((error) => [error.code, error.path])).toEqual([
      ['MISSING_REQUIRED_FILE', 'signature.sig'],
      ['MISSING_REQUIRED_FILE', 'j1/images/2.jpg'],
      ['MISSING_REQUIRED_FILE', 'anifest.json'],
    ]);
  });

  it('refuses zip-slip and other unsafe entry names', async () => {
    const names = [
      '../evil.txt',
      'a/../../evil.txt',
      '/etc/cron.d/x',
      'C:/Windows/x.dll',
      '..\\..\\evil.txt',
      'a\u0001b.txt',
    ];
    const zip = hostileZip([
      { name: 'fine.txt', data: text('ok') },
      ...names.map((name) => ({ name, data: text('x') })),
    ]);
    const verdict = await createBuiltinValidator().validate(await archiveOf(zip), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors.map((error) => [error.code, error.path])).toEqual(
      names.map((name) => ['UNSAFE_PATH', name]),
    );
  });

  it('refuses duplicate entries, including case and NFD/NFC variants', async () => {
    const zip = hostileZip([
      { name: 'a/Report.pdf', data: text('1') },
      { name: 'a/report.pdf', data: text('2') },
      { name: 'caf\u00e9.txt', data: text('3') },
      { name: 'cafe\u0301.txt', data: text('4') },
    ]);
    const verdict = await createBuiltinValidator().validate(await archiveOf(zip), job);
    expect(verdict.errors.map((error) => [error.code, error.path])).toEqual([
      ['DUPLICATE_ENTRY', 'a/report.pdf'],
      ['DUPLICATE_ENTRY', 'cafe\u0301.txt'],
    ]);
  });

  it('refuses a file that is also the folder of another entry', async () => {
    const zip = hostileZip([
      { name: 'a', data: text('file') },
      { name: 'A/b.txt', data: text('inside') },
    ]);
    const verdict = await createBuiltinValidator().validate(await archiveOf(zip), job);
    expect(verdict.errors.map((error) => [error.code, error.path])).toEqual([['DUPLICATE_ENTRY', 'A/b.txt']]);
  });

  it('reports encrypted entries instead of failing to read them', async () => {
    // Traditional encryption: a 12-byte header precedes the stored data.
    const zip = hostileZip([
      { name: 'secret.txt', data: Buffer.alloc(28, 1), declaredSize: 16, flags: 0x801 },
    ]);
    expect(codes(await createBuiltinValidator().validate(await archiveOf(zip), job))).toEqual([
      'ENCRYPTED_ENTRY',
    ]);
  });

  it('enforces maxTotalBytes and maxFiles, stopping early', async () => {
    const archive = await buildZip(dir, goodFiles());
    const small = await createBuiltinValidator({
      maxTotalBytes: 250_010,
      requiredFiles: ['nope.txt'],
    }).validate(archive, job);
    expect(codes(small)).toEqual(['TOO_LARGE']);
    expect(small.details?.complete).toBe(false);
    expect((await createBuiltinValidator({ maxTotalBytes: 250_011 }).validate(archive, job)).valid).toBe(
      true,
    );
    expect(codes(await createBuiltinValidator({ maxFiles: 2 }).validate(archive, job))).toEqual([
      'TOO_MANY_FILES',
    ]);
    expect((await createBuiltinValidator({ maxFiles: 3 }).validate(archive, job)).valid).toBe(true);
  });

  it('lists at most 100 errors and says so', async () => {
    const zip = hostileZip(
      Array.from({ length: 150 }, (_, index) => ({ name: `f${index}.exe`, data: text('x') })),
    );
    const verdict = await createBuiltinValidator({ allowedExtensions: ['pdf'] }).validate(
      await archiveOf(zip),
      job,
    );
    expect(verdict.errors.length).toBe(100);
    expect(verdict.details?.truncated).toBe(true);
  });

  it('throws CANCELLED for an aborted signal and VALIDATOR_ERROR for a missing archive', async () => {
    const controller = new AbortController();
    controller.abort();
    const archive = await buildZip(dir, goodFiles());
    await expect(
      createBuiltinValidator().validate(archive, job, { signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'CANCELLED',
      stage: 'validate',
    });
    await expect(
      createBuiltinValidator().validate({ ...archive, path: join(dir, 'gone.zip') }, job),
    ).rejects.toMatchObject({ code: 'VALIDATOR_ERROR' });
  });

  it('refuses bad options with CONFIG_INVALID', () => {
    expect(() => createBuiltinValidator({ maxFiles: -1 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => createBuiltinValidator({ requiredFiles: ['../x'] })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => createBuiltinValidator({ maxBytes: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

testValidator({
  name: 'built-in rules (fs)',
  create: async () => ({ validator: createBuiltinValidator({ allowedExtensions: ['txt', 'pdf'] }) }),
  makeArchive: (kind, folder) =>
    kind === 'valid'
      ? buildZip(folder, { 'a/one.txt': text('one'), 'a/two.pdf': text('two') })
      : buildZip(folder, { 'a/one.txt': text('one'), 'a/run.exe': text('MZ') }),
});
