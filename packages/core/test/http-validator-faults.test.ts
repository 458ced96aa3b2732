import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { rejectionOf } from '@ncr-upload/core/testing';
import {
  startValidatorStub,
  type TestZip,
  type ValidatorStub,
  writeTestZip,
} from '@ncr-upload/test-kit/validator';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UploadError } from '../src/errors.js';
import type { JobRequest } from '../src/job.js';
import type { ArchiveInfo } from '../src/ports/validator.js';

const job: JobRequest = { job_id: 'job-7', username: 'bo', campaign: 'autumn' };
let dir: string;
let zip: TestZip;
let stub: ValidatorStub | undefined;
const archive = (): ArchiveInfo => ({ ...zip, entries: [] });

const caught = rejectionOf;

async function until(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 500 && !condition(); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!condition()) throw new Error('condition never became true');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'http-validator-faults-'));
  zip = await writeTestZip(join(dir, 'job.zip'), [{ name: 'autumn/bo/job-7/a.txt', data: 'a' }]);
});
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createHttpValidator: failures are classified', () => {
  it('503 is a retryable VALIDATOR_ERROR; the next attempt gets the verdict', async () => {
    stub = await startValidatorStub({ script: [503, 'ok'] });
    const validator = createHttpValidator({ url: stub.url });
    const error = await caught(validator.validate(archive(), job));
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ code: 'VALIDATOR_ERROR', retryable: true, stage: 'validate' });
    expect(error.message).toContain('503');
    expect(error.message).toContain(`127.0.0.1:${stub.port}/validate`);
    expect((await validator.validate(archive(), job)).valid).toBe(true);
    // Both attempts sent the whole multipart body; the second arrived byte for byte.
    expect(stub.requests.map((request) => request.step)).toEqual([503, 'ok']);
    expect(stub.requests[0]?.bytes).toBeGreaterThan(zip.size);
    expect(stub.requests[1]).toMatchObject({ bytes: zip.size, sha256: zip.sha256 });
  });

  it('422 is an invalid verdict with the reasons from the body', async () => {
    stub = await startValidatorStub({ script: [422] });
    const verdict = await createHttpValidator({ url: stub.url }).validate(archive(), job);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors).toEqual([{ message: 'the stub answered 422', code: 'STUB_422' }]);
    expect(verdict.details?.['http_status']).toBe(422);
  });

  it('2xx with valid:false is an invalid verdict', async () => {
    stub = await startValidatorStub({ script: ['reject'] });
    const verdict = await createHttpValidator({ url: stub.url, mode: 'raw' }).validate(archive(), job);
    expect(verdict).toEqual({
      valid: false,
      errors: [{ message: 'rejected by the stub', code: 'STUB_REJECT' }],
    });
    expect(stub.requests[0]).toMatchObject({
      bytes: zip.size,
      sha256: zip.sha256,
      contentType: 'application/zip',
    });
  });

  it('401 and 404 are not retryable (setup), 408 and 429 are', async () => {
    stub = await startValidatorStub({ script: [401, 404, 408, 429] });
    const validator = createHttpValidator({ url: stub.url });
    const retryable = [];
    for (let index = 0; index < 4; index += 1) {
      const error = await caught(validator.validate(archive(), job));
      expect(error.code).toBe('VALIDATOR_ERROR');
      retryable.push(error.retryable);
    }
    expect(retryable).toEqual([false, false, true, true]);
  });

  it('an unparseable 2xx reply is a VALIDATOR_ERROR that is not retried', async () => {
    stub = await startValidatorStub({ script: ['garbage'] });
    const error = await caught(createHttpValidator({ url: stub.url }).validate(archive(), job));
    expect(error).toMatchObject({ code: 'VALIDATOR_ERROR', retryable: false });
    expect(error.message).toContain('200');
  });

  it('no answer within timeoutMs is a retryable VALIDATOR_ERROR', async () => {
    stub = await startValidatorStub({ script: ['hang'] });
    const error = await caught(
      createHttpValidator({ url: stub.url, timeoutMs: 300 }).validate(archive(), job),
    );
    expect(error).toMatchObject({ code: 'VALIDATOR_ERROR', retryable: true });
    expect(error.message).toContain('did not answer within 300 ms');
  });

  it('aborting the signal cancels the request', async () => {
    stub = await startValidatorStub({ script: ['hang', 'hang'] });
    const validator = createHttpValidator({ url: stub.url });
    const controller = new AbortController();
    const pending = caught(validator.validate(archive(), job, { signal: controller.signal }));
    await until(() => stub!.requests.length === 1);
    controller.abort();
    expect(await pending).toMatchObject({ code: 'CANCELLED', retryable: false });

    // A reason that is already an UploadError (e.g. the job's timeout) is passed through.
    const timeout = new AbortController();
    const reason = new UploadError('TIMEOUT', 'The job ran longer than 1 s.', { retryable: true });
    const second = caught(validator.validate(archive(), job, { signal: timeout.signal }));
    await until(() => stub!.requests.length === 2);
    timeout.abort(reason);
    expect(await second).toBe(reason);

    const already = AbortSignal.abort();
    expect(await caught(validator.validate(archive(), job, { signal: already }))).toMatchObject({
      code: 'CANCELLED',
    });
  });

  it('a refused connection is retryable and the message hides credentials and query values', async () => {
    stub = await startValidatorStub();
    const port = stub.port;
    await stub.close();
    stub = undefined;
    const validator = createHttpValidator({
      url: `http://admin:hunter2@127.0.0.1:${port}/validate?token=topsecret`,
      headers: { 'x-api-key': 'key-material' },
    });
    const error = await caught(validator.validate(archive(), job));
    expect(error).toMatchObject({ code: 'VALIDATOR_ERROR', retryable: true });
    expect(error.message).toContain(`http://127.0.0.1:${port}/validate?token=***`);
    expect(error.message).toContain('ECONNREFUSED');
    const serialized = JSON.stringify(error.toJSON());
    for (const secret of ['hunter2', 'admin', 'topsecret', 'key-material']) {
      expect(serialized).not.toContain(secret);
    }
  });

  it('a reply whose sha256 differs from the archive is a retryable corrupted transfer', async () => {
    stub = await startValidatorStub();
    const validator = createHttpValidator({ url: stub.url });
    const wrong = { ...archive(), sha256: 'f'.repeat(64) };
    const error = await caught(validator.validate(wrong, job));
    expect(error).toMatchObject({ code: 'VALIDATOR_ERROR', retryable: true });
    expect(error.message).toContain('different bytes');
    const unchecked = createHttpValidator({ url: stub.url, verifySha256: false });
    expect((await unchecked.validate(wrong, job)).valid).toBe(true);
  });
});
