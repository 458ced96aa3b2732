import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { toUploadError, UploadError } from '../errors.js';
import { mapLimit } from '../internal/async.js';
import type { LayoutEntry } from '../ports/file-ref.js';
import type { Storage } from '../ports/storage.js';
import type { StepContext } from './context.js';

export interface FetchedFile {
  entry: LayoutEntry;
  /** Absolute path of the local copy. */
  localPath: string;
  size: number;
}

/** Folder inside the task's temp dir that holds the organised tree. */
export const filesDir = (taskDir: string) => join(taskDir, 'files');

/**
 * Step 3: stream every file from storage into `<task dir>/files/<path>`, at
 * most `concurrency` at once. Sizes are checked against what the catalog or
 * storage announced (`SIZE_MISMATCH`, retryable). The task's signal reaches
 * every read and write stream.
 */
export async function fetchFiles(
  storage: Storage,
  entries: LayoutEntry[],
  context: StepContext,
  concurrency: number,
): Promise<FetchedFile[]> {
  context.progress.stage('fetch');
  const knownTotal = entries.reduce((sum, entry) => sum + (entry.file.size ?? 0), 0);
  context.progress.totals(entries.length, knownTotal);
  const root = filesDir(context.dir);
  return mapLimit(entries, concurrency, async (entry) => {
    context.signal.throwIfAborted();
    const localPath = join(root, ...entry.path.split('/'));
    try {
      await mkdir(dirname(localPath), { recursive: true });
      const opened = await storage.open(entry.file, { signal: context.signal });
      // Both the storage's and the catalog's sizes must hold: a catalog row that disagrees with
      // the object (a file still being written, a stale row) is caught here, not by the client.
      const announced = [opened.size, entry.file.size].filter((size): size is number => size !== undefined);
      let received = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          context.progress.advance(0, chunk.length);
          callback(null, chunk);
        },
      });
      await pipeline(opened.stream, counter, createWriteStream(localPath), { signal: context.signal });
      const expected = announced.find((size) => size !== received);
      if (expected !== undefined) {
        throw new UploadError(
          'SIZE_MISMATCH',
          `Received ${received} bytes of ${JSON.stringify(entry.file.key)} but expected ${expected}; the download was cut short or the catalog's size is wrong.`,
          { stage: 'fetch', retryable: true, details: { key: entry.file.key, expected, received } },
        );
      }
      context.progress.advance(1, 0);
      return { entry, localPath, size: received };
    } catch (error) {
      if (context.signal.aborted) throw context.signal.reason ?? error;
      throw toUploadError(error, 'fetch', 'STORAGE_ERROR');
    }
  });
}
