import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUploadError } from '../errors.js';
import type { FileRef } from '../ports/file-ref.js';
import type { Storage } from '../ports/storage.js';
import { randomBytesOf, readAll, sha256, uniqueId, waitFor } from './helpers.js';

export interface StorageContractOptions {
  /** Shown in the describe block. */
  name: string;
  /**
   * A storage holding exactly `files` (key → bytes; keys are `/` paths, some
   * with spaces and non-ASCII letters). Called once for the whole suite.
   */
  create: (files: Record<string, Buffer>) => Promise<{ storage: Storage; cleanup?: () => Promise<void> }>;
}

const FIVE_MIB = 5 * 1024 * 1024;

/** The files every storage is seeded with. */
/** What `promise` rejected with, or null when it resolved. */
function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (caught: unknown) => caught,
  );
}

function seedFiles(): Record<string, Buffer> {
  return {
    'small.txt': Buffer.from('hello, storage\n'),
    'big/random.bin': randomBytesOf(FIVE_MIB),
    'empty.bin': Buffer.alloc(0),
    'folder with spaces/ünïcødé näme 文件.txt': Buffer.from('unicode content ✓\n'),
    'prefix/a/one.bin': randomBytesOf(1000),
    'prefix/a/two.bin': randomBytesOf(2000),
    'prefix/three.bin': randomBytesOf(3000),
    'prefix-sibling/outside.bin': randomBytesOf(10),
  };
}

/**
 * The behaviour every `Storage` must have. Call it at the top level of a test
 * file: `testStorage({ name: 's3', create: async (files) => ({ storage, cleanup }) })`.
 */
export function testStorage(options: StorageContractOptions): void {
  describe(`Storage contract: ${options.name}`, () => {
    const files = seedFiles();
    let storage: Storage;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const created = await options.create(files);
      storage = created.storage;
      cleanup = created.cleanup;
    });

    afterAll(async () => {
      await storage?.close?.();
      await cleanup?.();
    });

    it('returns the exact bytes and size of every file', async () => {
      for (const [key, content] of Object.entries(files)) {
        const opened = await storage.open({ key });
        if (opened.size !== undefined) expect(opened.size, key).toBe(content.length);
        const received = await readAll(opened.stream);
        expect(received.length, key).toBe(content.length);
        expect(sha256(received), key).toBe(sha256(content));
      }
    });

    it('throws FILE_NOT_FOUND, not retryable, for a missing key', async () => {
      for (const key of [`${uniqueId('missing')}.bin`, 'prefix/a/missing.bin']) {
        const error = await rejectionOf(storage.open({ key }));
        expect(isUploadError(error), `${key}: ${String(error)}`).toBe(true);
        expect((error as { code: string }).code).toBe('FILE_NOT_FOUND');
        expect((error as { retryable: boolean }).retryable).toBe(false);
      }
    });

    /** The whole file as the pipeline's in-memory path reads it: `read` when there is one, else `open`. */
    const readWhole = async (file: FileRef, signal?: AbortSignal) => {
      const options = signal ? { signal } : {};
      if (storage.read) return storage.read(file, options);
      return readAll((await storage.open(file, options)).stream);
    };

    it('reads every file whole, with the same bytes as open (`read`, when it has one)', async () => {
      for (const [key, content] of Object.entries(files)) {
        const received = await readWhole({ key, size: content.length });
        expect(received.length, key).toBe(content.length);
        expect(sha256(received), key).toBe(sha256(content));
      }
    });

    it('refuses a whole read of a missing key (FILE_NOT_FOUND) and with an aborted signal', async () => {
      const missing = await rejectionOf(readWhole({ key: `${uniqueId('missing')}.bin` }));
      expect(isUploadError(missing), String(missing)).toBe(true);
      expect((missing as { code: string }).code).toBe('FILE_NOT_FOUND');
      const controller = new AbortController();
      controller.abort();
      const aborted = await rejectionOf(readWhole({ key: 'small.txt' }, controller.signal));
      expect(aborted).not.toBeNull();
    });

    it('reads every file into a buffer of its size (`readInto`, when it has one), and says when the size differs', async () => {
      const readInto = storage.readInto?.bind(storage);
      if (!readInto) return;
      for (const [key, content] of Object.entries(files)) {
        const exact = Buffer.alloc(content.length);
        expect(await readInto({ key, size: content.length }, exact), key).toBe(content.length);
        expect(sha256(exact), key).toBe(sha256(content));
        // Shorter than the file: filled with its first bytes; the file is longer than the target.
        if (content.length > 0) {
          const short = Buffer.alloc(content.length - 1);
          expect(await readInto({ key }, short), key).toBeGreaterThan(short.length);
          expect(short.equals(content.subarray(0, short.length)), key).toBe(true);
        }
        // Longer than the file: the file's bytes and its length.
        const long = Buffer.alloc(content.length + 1);
        expect(await readInto({ key }, long), key).toBe(content.length);
        expect(long.subarray(0, content.length).equals(content), key).toBe(true);
      }
      const missing = await rejectionOf(readInto({ key: `${uniqueId('missing')}.bin` }, Buffer.alloc(10)));
      expect(isUploadError(missing), String(missing)).toBe(true);
      expect((missing as { code: string }).code).toBe('FILE_NOT_FOUND');
      const controller = new AbortController();
      controller.abort();
      const aborted = await rejectionOf(
        readInto({ key: 'small.txt' }, Buffer.alloc(15), { signal: controller.signal }),
      );
      expect(aborted).not.toBeNull();
    });

    it('stops reading when the signal is aborted', async () => {
      const controller = new AbortController();
      const opened = await storage.open({ key: 'big/random.bin' }, { signal: controller.signal });
      const iterator = opened.stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      let received = (first.value as Buffer).length;
      controller.abort();
      const outcome = await (async () => {
        for (;;) {
          const next = await iterator.next();
          if (next.done) return 'ended';
          received += (next.value as Buffer).length;
        }
      })().catch(() => 'rejected');
      await waitFor(() => opened.stream.destroyed, { message: 'the stream was not destroyed after abort' });
      // Reading must fail, or at least stop short of the whole file.
      expect(outcome === 'rejected' || received < FIVE_MIB, `read ${received} bytes after abort`).toBe(true);
    });

    it('refuses to open with an already aborted signal', async () => {
      const controller = new AbortController();
      controller.abort();
      const outcome = await storage.open({ key: 'small.txt' }, { signal: controller.signal }).then(
        async (opened) => {
          await waitFor(() => opened.stream.destroyed, {
            message: 'the stream of an aborted open was not destroyed',
          });
          return readAll(opened.stream).then(
            () => 'read',
            () => 'stream-rejected',
          );
        },
        () => 'open-rejected',
      );
      expect(['open-rejected', 'stream-rejected']).toContain(outcome);
    });

    it('lists exactly the files under a prefix, with sizes, when it supports listing', async () => {
      if (!storage.list) {
        expect(storage.list).toBeUndefined();
        return;
      }
      const listed: FileRef[] = [];
      for await (const file of storage.list('prefix/')) listed.push(file);
      const expected = Object.keys(files)
        .filter((key) => key.startsWith('prefix/'))
        .sort();
      expect(listed.map((file) => file.key).sort()).toEqual(expected);
      for (const file of listed) expect(file.size, file.key).toBe(files[file.key]!.length);

      const nested: FileRef[] = [];
      for await (const file of storage.list('folder with spaces/')) nested.push(file);
      expect(nested.map((file) => file.key)).toEqual(['folder with spaces/ünïcødé näme 文件.txt']);

      const none: FileRef[] = [];
      for await (const file of storage.list(`${uniqueId('nothing')}/`)) none.push(file);
      expect(none).toEqual([]);
    });
  });
}
