import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRequest } from '../job.js';
import type { ArchiveInfo, ArchiveStream, Validator, Verdict } from '../ports/validator.js';
import { makeJob } from './helpers.js';

export interface ValidatorContractOptions {
  /** Shown in the describe block. */
  name: string;
  /** The validator under test. Called once for the whole suite. */
  create: () => Promise<{ validator: Validator; cleanup?: () => Promise<void> }>;
  /**
   * Write an archive into `dir` that this validator accepts (`valid`) or
   * rejects (`invalid`). `buildZip` from this module helps.
   */
  makeArchive: (kind: 'valid' | 'invalid', dir: string) => Promise<ArchiveInfo>;
}

function expectVerdictShape(verdict: Verdict): void {
  expect(typeof verdict.valid).toBe('boolean');
  expect(Array.isArray(verdict.errors)).toBe(true);
  for (const error of verdict.errors) {
    expect(typeof error.message).toBe('string');
    expect(error.message.trim().length).toBeGreaterThan(0);
    if (error.code !== undefined) expect(typeof error.code).toBe('string');
    if (error.path !== undefined) expect(typeof error.path).toBe('string');
  }
  if (verdict.details !== undefined) {
    expect(typeof verdict.details).toBe('object');
    expect(verdict.details).not.toBeNull();
  }
}

/**
 * The behaviour every `Validator` must have. Call it at the top level of a
 * test file: `testValidator({ name: 'http', create, makeArchive })`.
 */
export function testValidator(options: ValidatorContractOptions): void {
  describe(`Validator contract: ${options.name}`, () => {
    let validator: Validator;
    let cleanup: (() => Promise<void>) | undefined;
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'validator-contract-'));
      const created = await options.create();
      validator = created.validator;
      cleanup = created.cleanup;
    });

    afterAll(async () => {
      await validator?.close?.();
      await cleanup?.();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('accepts a valid archive with no errors', async () => {
      const archive = await options.makeArchive('valid', dir);
      const verdict = await validator.validate(archive, makeJob());
      expectVerdictShape(verdict);
      expect(verdict.valid).toBe(true);
      expect(verdict.errors).toEqual([]);
    });

    it('rejects an invalid archive with errors a person can read', async () => {
      const archive = await options.makeArchive('invalid', dir);
      const verdict = await validator.validate(archive, makeJob());
      expectVerdictShape(verdict);
      expect(verdict.valid).toBe(false);
      expect(verdict.errors.length).toBeGreaterThan(0);
    });

    /** Feed `archive`'s file as an ArchiveStream in small pieces, completing after the last one. */
    const asStream = (archive: ArchiveInfo): ArchiveStream => {
      const stream = new PassThrough({ highWaterMark: 64 * 1024 });
      let complete!: (info: ArchiveInfo) => void;
      const completed = new Promise<ArchiveInfo>((resolve) => {
        complete = resolve;
      });
      pipeline(createReadStream(archive.path, { highWaterMark: 16 * 1024 }), stream).then(
        () => complete(archive),
        () => undefined,
      );
      return { stream, complete: completed };
    };

    /** What the pipeline does in a single pass: the stream input when there is one, else the finished file. */
    const validateAsProduced = async (archive: ArchiveInfo, job: JobRequest) => {
      const input = asStream(archive);
      if (validator.validateStream) return validator.validateStream(input, job);
      input.stream.resume();
      return validator.validate(await input.complete, job);
    };

    it('gives the same verdicts for an archive still being produced', async () => {
      const job = makeJob();
      const valid = await options.makeArchive('valid', dir);
      const invalid = await options.makeArchive('invalid', dir);
      const fromValid = await validateAsProduced(valid, job);
      expectVerdictShape(fromValid);
      expect(fromValid).toMatchObject({ valid: true, errors: [] });
      const fromInvalid = await validateAsProduced(invalid, job);
      expectVerdictShape(fromInvalid);
      expect(fromInvalid.valid).toBe(false);
      expect(fromInvalid.errors.length).toBeGreaterThan(0);
    });

    /** What the pipeline does for a small job: the buffer when the validator takes one, else the file. */
    const validateInMemory = async (archive: ArchiveInfo, job: JobRequest) => {
      if (!validator.validateBuffer) return validator.validate(archive, job);
      const data = await readFile(archive.path);
      return validator.validateBuffer({ ...archive, data, size: data.length }, job);
    };

    it('gives the same verdicts for an archive held in memory', async () => {
      const job = makeJob();
      const valid = await options.makeArchive('valid', dir);
      const invalid = await options.makeArchive('invalid', dir);
      const fromValid = await validateInMemory(valid, job);
      expectVerdictShape(fromValid);
      expect(fromValid).toMatchObject({ valid: true, errors: [] });
      const fromInvalid = await validateInMemory(invalid, job);
      expectVerdictShape(fromInvalid);
      expect(fromInvalid.valid).toBe(false);
      expect(fromInvalid.errors.length).toBeGreaterThan(0);
    });

    it('gives the same verdict when asked twice', async () => {
      const job = makeJob();
      const valid = await options.makeArchive('valid', dir);
      const invalid = await options.makeArchive('invalid', dir);
      const verdicts = await Promise.all([
        validator.validate(valid, job),
        validator.validate(invalid, job),
        validator.validate(valid, job),
        validator.validate(invalid, job),
      ]);
      expect(verdicts.map((verdict) => verdict.valid)).toEqual([true, false, true, false]);
    });
  });
}
