import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { rejectionOf, testValidator } from '@ncr-upload/core/testing';
import { corruptTestZip, type TestZip, writeTestZip } from '@ncr-upload/test-kit/validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RunningValidatorServer,
  startValidatorServer,
} from '../../../examples/validator-server/validator-server.mjs';
import type { JobRequest } from '../src/job.js';
import type { ArchiveInfo } from '../src/ports/validator.js';

const job: JobRequest = { job_id: 'job-42', username: 'ana', campaign: 'spring ünïcode', row_id: 7 };
const archiveOf = (zip: TestZip): ArchiveInfo => ({ ...zip, entries: [] });

const caught = rejectionOf;

let dir: string;
let server: RunningValidatorServer;
let validZip: TestZip;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'http-validator-test-'));
  server = await startValidatorServer({ tempDir: dir });
  validZip = await writeTestZip(join(dir, 'valid.zip'), [
    { name: 'spring/ana/job-42/front.jpg', data: 'front image bytes' },
    { name: 'spring/ana/job-42/docs/form.pdf', data: 'pdf bytes' },
  ]);
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

testValidator({
  name: 'http (reference validator, multipart)',
  create: async () => {
    const reference = await startValidatorServer();
    return { validator: createHttpValidator({ url: reference.url }), cleanup: () => reference.close() };
  },
  makeArchive: async (kind, folder) => {
    const zip = await writeTestZip(join(folder, `${randomUUID()}.zip`), [
      { name: 'a/ok.txt', data: 'fine' },
      { name: 'a/b.txt', data: 'MARKER that breaks' },
    ]);
    return archiveOf(kind === 'valid' ? zip : await corruptTestZip(zip, 'MARKER'));
  },
});

describe('createHttpValidator against the reference validator', () => {
  it('multipart: a valid zip is valid, and the job fields and exact bytes arrive', async () => {
    const validator = createHttpValidator({ url: server.url });
    const verdict = await validator.validate(archiveOf(validZip), job);
    expect(verdict.valid).toBe(true);
    expect(verdict.errors).toEqual([]);
    expect(verdict.details).toMatchObject({
      mode: 'multipart',
      files: 2,
      size: validZip.size,
      sha256: validZip.sha256,
      job: {
        job_id: 'job-42',
        username: 'ana',
        campaign: 'spring ünïcode',
        row_id: '7',
        sha256: validZip.sha256,
      },
    });
  });

  it('raw: the zip is the body and the job fields travel in the query string', async () => {
    const validator = createHttpValidator({ url: server.url, mode: 'raw' });
    const verdict = await validator.validate(archiveOf(validZip), { ...job, row_id: null });
    expect(verdict.valid).toBe(true);
    expect(verdict.details).toMatchObject({
      mode: 'raw',
      size: validZip.size,
      sha256: validZip.sha256,
      job: { job_id: 'job-42', username: 'ana', campaign: 'spring ünïcode' },
    });
    expect(verdict.details?.['job']).not.toHaveProperty('row_id');
  });

  it.each(['multipart', 'raw'] as const)(
    '%s: a corrupt entry makes the zip invalid with the reason',
    async (mode) => {
      const zip = await writeTestZip(join(dir, `corrupt-${mode}.zip`), [
        { name: 'a/ok.txt', data: 'this one is fine' },
        { name: 'a/broken.txt', data: 'MARKER-these-bytes-get-flipped' },
      ]);
      const corrupt = await corruptTestZip(zip, 'MARKER');
      const verdict = await createHttpValidator({ url: server.url, mode }).validate(archiveOf(corrupt), job);
      expect(verdict.valid).toBe(false);
      expect(verdict.errors).toEqual([
        { message: 'CRC-32 mismatch: the entry is corrupt', code: 'CRC_MISMATCH', path: 'a/broken.txt' },
      ]);
      expect(verdict.details?.['sha256']).toBe(corrupt.sha256);
    },
  );

  it('a file that is not a zip is invalid', async () => {
    const path = join(dir, 'not-a-zip.zip');
    await writeFile(path, 'plain text, not a zip');
    const sha256 = createHash('sha256').update('plain text, not a zip').digest('hex');
    const verdict = await createHttpValidator({ url: server.url }).validate(
      { path, size: 21, sha256, entries: [] },
      job,
    );
    expect(verdict.valid).toBe(false);
    expect(verdict.errors[0]?.code).toBe('NOT_A_ZIP');
  });

  it('an empty zip and a forbidden extension are invalid', async () => {
    const restricted = await startValidatorServer({ tempDir: dir, allowedExtensions: ['jpg', '.pdf'] });
    try {
      const validator = createHttpValidator({ url: restricted.url });
      const mixed = await writeTestZip(join(dir, 'mixed.zip'), [
        { name: 'x/photo.JPG', data: 'jpeg' },
        { name: 'x/run.exe', data: 'MZ' },
      ]);
      const verdict = await validator.validate(archiveOf(mixed), job);
      expect(verdict.valid).toBe(false);
      expect(verdict.errors).toEqual([
        { message: 'extension not allowed: ".exe"', code: 'EXTENSION_NOT_ALLOWED', path: 'x/run.exe' },
      ]);
      const empty = await writeTestZip(join(dir, 'empty.zip'), []);
      const emptyVerdict = await validator.validate(archiveOf(empty), job);
      expect(emptyVerdict.valid).toBe(false);
      expect(emptyVerdict.errors[0]?.code).toBe('EMPTY_ZIP');
    } finally {
      await restricted.close();
    }
  });

  it.each(['multipart', 'raw'] as const)(
    '%s: a 50 MB zip is streamed and arrives byte for byte',
    async (mode) => {
      const big = await writeTestZip(join(dir, `big-${mode}.zip`), [
        { name: 'big/one.bin', data: 30 * 1024 * 1024 },
        { name: 'big/two.bin', data: 20 * 1024 * 1024 },
      ]);
      expect(big.size).toBeGreaterThan(50 * 1024 * 1024);
      const verdict = await createHttpValidator({ url: server.url, mode }).validate(archiveOf(big), job);
      expect(verdict.valid).toBe(true);
      expect(verdict.details).toMatchObject({ size: big.size, sha256: big.sha256, files: 2 });
      await rm(big.path);
    },
  );

  it('leaves no temp files behind on the server', async () => {
    const left = (await readdir(dir)).filter((name) => name.startsWith('ncr-validator-'));
    expect(left).toEqual([]);
  });

  it('ping() checks the health URL, and is absent without one', async () => {
    expect(createHttpValidator({ url: server.url }).ping).toBeUndefined();
    await expect(
      createHttpValidator({ url: server.url, healthUrl: server.healthUrl }).ping?.(),
    ).resolves.toBe(undefined);
    const wrong = createHttpValidator({
      url: server.url,
      healthUrl: server.healthUrl.replace('/health', '/nope'),
    });
    const error = await caught(wrong.ping!());
    expect(error.code).toBe('VALIDATOR_ERROR');
    expect(error.retryable).toBe(true);
  });

  it('sends the configured headers, and credentials in the URL as Basic auth', async () => {
    const seen: (string | undefined)[] = [];
    const guard = http.createServer((request, response) => {
      seen.push(request.headers.authorization);
      request.resume();
      request.on('end', () => {
        const ok = request.headers.authorization === 'Bearer right';
        response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        response.end(ok ? '{"valid":true}' : '{"detail":"Not authenticated"}');
      });
    });
    await new Promise<void>((resolve) => guard.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(guard.address() as AddressInfo).port}/validate`;
    try {
      const ok = createHttpValidator({ url: base, headers: { authorization: 'Bearer right' } });
      expect((await ok.validate(archiveOf(validZip), job)).valid).toBe(true);

      const wrong = createHttpValidator({ url: base, headers: { authorization: 'Bearer s3cr3t-wrong' } });
      const error = await caught(wrong.validate(archiveOf(validZip), job));
      expect(error.code).toBe('VALIDATOR_ERROR');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('401');
      expect(error.message).not.toContain('s3cr3t');

      const withUser = createHttpValidator({ url: base.replace('http://', 'http://user:pa%40ss@') });
      await caught(withUser.validate(archiveOf(validZip), job));
      expect(seen.at(-1)).toBe(`Basic ${Buffer.from('user:pa@ss').toString('base64')}`);
    } finally {
      await new Promise((resolve) => guard.close(resolve));
    }
  });

  it('stream: false offers no stream input, so the pipeline sends the finished zip with its length', async () => {
    expect(createHttpValidator({ url: server.url }).validateStream).toBeTypeOf('function');
    const validator = createHttpValidator({ url: server.url, stream: false });
    expect(validator.validateStream).toBeUndefined();
    const lengths: (string | undefined)[] = [];
    const guard = http.createServer((request, response) => {
      lengths.push(request.headers['content-length']);
      request.resume();
      request.on('end', () => {
        response.setHeader('content-type', 'application/json');
        response.end('{"valid": true, "errors": []}');
      });
    });
    await new Promise<void>((resolve) => guard.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = guard.address() as AddressInfo;
      const lengthChecked = createHttpValidator({
        url: `http://127.0.0.1:${port}/v`,
        stream: false,
        mode: 'raw',
      });
      expect((await lengthChecked.validate(archiveOf(validZip), job)).valid).toBe(true);
      expect(lengths).toEqual([String(validZip.size)]);
    } finally {
      await new Promise((resolve) => guard.close(resolve));
    }
  });

  it('rejects bad options with CONFIG_INVALID', () => {
    expect(() => createHttpValidator({ url: 'ftp://example.com/validate' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => createHttpValidator({ url: server.url, timeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('a missing archive is an ARCHIVE_ERROR, not a validator verdict', async () => {
    const error = await caught(
      createHttpValidator({ url: server.url }).validate(
        { path: join(dir, 'missing.zip'), size: 1, sha256: 'x', entries: [] },
        job,
      ),
    );
    expect(error.code).toBe('ARCHIVE_ERROR');
  });
});
