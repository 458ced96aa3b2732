import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import { toUploadError } from '../errors.js';
import type { ArchiveInfo } from '../ports/validator.js';
import type { StepContext } from './context.js';
import type { FetchedFile } from './fetch.js';

/** Where the task's zip is written. */
export const archivePath = (taskDir: string) => join(taskDir, 'archive.zip');

/**
 * Step 4: zip the fetched files in layout order (deterministic: the same files
 * give the same bytes, so re-deliveries compare equal). Zip64 is used by
 * archiver when an entry or the archive passes 4 GiB. Size and sha256 are
 * computed while the zip is written, never by reading it again.
 *
 * `files` may be promises still being fetched: file N is zipped as soon as it
 * and the files before it are on disk, so fetching and zipping overlap. The
 * stage switches to `archive` once every file has arrived.
 */
export async function archiveFiles(
  files: readonly (FetchedFile | Promise<FetchedFile>)[],
  context: StepContext,
  compressionLevel: number,
): Promise<ArchiveInfo> {
  const fetched: FetchedFile[] = [];
  let archived = 0;
  let archivedBytes = 0;
  let archiveStage = false;
  const enterArchiveStage = () => {
    archiveStage = true;
    context.progress.stage('archive');
    context.progress.totals(
      fetched.length,
      fetched.reduce((sum, file) => sum + file.size, 0),
    );
    context.progress.advance(archived, archivedBytes);
  };
  const path = archivePath(context.dir);
  const hash = createHash('sha256');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const zip = new ZipArchive(
    compressionLevel === 0 ? { store: true } : { zlib: { level: compressionLevel } },
  );
  const fixedDate = new Date('2000-01-01T00:00:00Z');
  try {
    const writing = pipeline(zip, measure, createWriteStream(path), { signal: context.signal });
    writing.catch(() => undefined);
    for (const pending of files) {
      const file = await pending;
      fetched.push(file);
      const source = createReadStream(file.localPath);
      source.on('data', (chunk) => {
        archivedBytes += chunk.length;
        if (archiveStage) context.progress.advance(0, chunk.length);
      });
      source.on('end', () => {
        archived += 1;
        if (archiveStage) context.progress.advance(1, 0);
      });
      zip.append(source, { name: file.entry.path, date: fixedDate });
    }
    enterArchiveStage();
    await Promise.all([zip.finalize(), writing]);
  } catch (error) {
    zip.abort();
    if (context.signal.aborted) throw context.signal.reason ?? error;
    throw toUploadError(error, 'archive', 'ARCHIVE_ERROR');
  }
  return { path, size, sha256: hash.digest('hex'), entries: fetched.map((file) => file.entry) };
}
