import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { toUploadError } from '../errors.js';
import type { ArchiveInfo } from '../ports/validator.js';
import { type CompressionMode, ZipWriter } from '../zip/zip-writer.js';
import type { StepContext } from './context.js';
import type { FetchedFile } from './fetch.js';

/** Where the task's zip is written. */
export const archivePath = (taskDir: string) => join(taskDir, 'archive.zip');

export interface ArchiveSettings {
  /** `store`, `deflate` or `auto` (store already-compressed types, deflate the rest). */
  compression: CompressionMode;
  /** Deflate level 1–9 for deflated entries. */
  level: number;
  /**
   * Also hand every byte of the zip, in order, to this consumer (the single
   * pass: validator body, destination upload). Awaited together with the
   * local file's write, so the slowest of them sets the pace.
   */
  tee?: (chunk: Buffer) => Promise<void>;
}

/**
 * Step 4: zip the fetched files in layout order (deterministic: the same files
 * give the same bytes, so re-deliveries compare equal) into the task's local
 * file, which is kept for retries. Zip64 is used when an entry or the archive
 * passes 4 GiB or 65535 entries. Size, CRC-32 and sha256 are computed while
 * the zip is written, never by reading it again.
 *
 * `files` may be promises still being fetched: file N is zipped as soon as it
 * and the files before it are on disk, so fetching and zipping overlap. The
 * stage switches to `archive` once every file has arrived.
 */
export async function archiveFiles(
  files: readonly (FetchedFile | Promise<FetchedFile>)[],
  context: StepContext,
  settings: ArchiveSettings,
): Promise<ArchiveInfo> {
  const fetched: FetchedFile[] = [];
  let archived = 0;
  let archivedBytes = 0;
  let archiveStage = false;
  const enterArchiveStage = (all: readonly FetchedFile[]) => {
    if (archiveStage) return;
    archiveStage = true;
    context.progress.stage('archive');
    context.progress.totals(
      all.length,
      all.reduce((sum, file) => sum + file.size, 0),
    );
    context.progress.advance(archived, archivedBytes);
  };
  // Every file on disk: the rest of the time is zipping.
  Promise.all(files).then(enterArchiveStage, () => undefined);
  const path = archivePath(context.dir);
  const { signal } = context;
  const handle = await open(path, 'w');
  const { tee } = settings;
  const writeLocal = async (chunk: Buffer) => {
    let written = 0;
    while (written < chunk.length) {
      written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten;
    }
  };
  const zip = new ZipWriter(
    async (chunk) => {
      signal.throwIfAborted();
      if (tee) await Promise.all([writeLocal(chunk), tee(chunk)]);
      else await writeLocal(chunk);
    },
    {
      compression: settings.compression,
      level: settings.level,
      onFileBytes: (bytes) => {
        archivedBytes += bytes;
        if (archiveStage) context.progress.advance(0, bytes);
      },
    },
  );
  try {
    for (const [index, pending] of files.entries()) {
      const file = await pending;
      signal.throwIfAborted();
      fetched.push(file);
      const adding = zip.addFile(file.entry.path, file.localPath, file.size);
      // While this file is written, the next one starts deflating on another thread once it is on disk.
      const next = files[index + 1];
      if (next) {
        Promise.resolve(next).then(
          (nextFile) => zip.prepareFile(nextFile.entry.path, nextFile.localPath, nextFile.size),
          () => undefined,
        );
      }
      await adding;
      archived += 1;
      if (archiveStage) context.progress.advance(1, 0);
    }
    enterArchiveStage(fetched);
    const summary = await zip.finish();
    await handle.close();
    return {
      path,
      size: summary.size,
      sha256: summary.sha256,
      entries: fetched.map((file) => file.entry),
    };
  } catch (error) {
    zip.discard();
    await handle.close().catch(() => undefined);
    if (signal.aborted) throw signal.reason ?? error;
    throw toUploadError(error, 'archive', 'ARCHIVE_ERROR');
  }
}
