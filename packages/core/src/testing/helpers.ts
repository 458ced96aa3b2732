import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { UploadError } from '../errors.js';
import { type JobRequest, newTaskRecord, type TaskRecord } from '../job.js';
import type { LayoutEntry } from '../ports/file-ref.js';
import type { ArchiveInfo } from '../ports/validator.js';
import { ZipWriter } from '../zip/zip-writer.js';

/** `size` random bytes. */
export function randomBytesOf(size: number): Buffer {
  return size === 0 ? Buffer.alloc(0) : randomBytes(size);
}

/** Hex sha256 of a buffer. */
export function sha256(buffer: Buffer | Uint8Array): string {
  return createHash('sha256').update(buffer).digest('hex');
}

/** A unique id with a readable prefix, so tests sharing a store or a server never collide. */
export function uniqueId(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}

/** A valid job request with unique ids; override any field. */
export function makeJob(overrides: Partial<JobRequest> = {}): JobRequest {
  return {
    job_id: uniqueId('job'),
    username: uniqueId('user'),
    campaign: uniqueId('campaign'),
    row_id: null,
    ...overrides,
  };
}

/** A queued task record for `job` (a new job by default); override any field. */
export function makeTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  const job = overrides.job ?? makeJob(overrides.job_id ? { job_id: overrides.job_id } : {});
  return { ...newTaskRecord(job, { taskId: uniqueId('task') }), ...overrides };
}

/** Read a stream to the end into one buffer. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/**
 * Wait until `check` returns true (or a truthy value), polling every `intervalMs`.
 * Throws after `timeoutMs` (default 10000) with `message`. A deadline, not a timing assertion.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(options.message ?? 'waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
  }
}

/** Let pending timers, I/O callbacks and microtasks run a few times. */
export async function settle(rounds = 5, delayMs = 20): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/**
 * Write a zip holding `files` (path → bytes) into `dir` under a unique name,
 * with the pipeline's zip writer (deflate level 1), computing its sha256 while
 * it is written. Returns what a validator receives.
 */
export async function buildZip(dir: string, files: Record<string, Buffer>): Promise<ArchiveInfo> {
  const path = join(dir, `${uniqueId('archive')}.zip`);
  const handle = await open(path, 'w');
  const entries: LayoutEntry[] = [];
  try {
    const writer = new ZipWriter(
      async (chunk) => {
        await handle.write(chunk);
      },
      { compression: 'deflate', level: 1 },
    );
    for (const [name, content] of Object.entries(files)) {
      await writer.addBuffer(name, content);
      entries.push({ file: { key: name, size: content.length }, path: name });
    }
    const { size, sha256 } = await writer.finish();
    return { path, size, sha256, entries };
  } finally {
    await handle.close();
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<UploadError> {
  try {
    await promise;
  } catch (error) {
    return error as UploadError;
  }
  throw new Error('expected the promise to reject');
}
