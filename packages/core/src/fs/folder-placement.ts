import { randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  linkSync,
  lstatSync,
  open as openCallback,
  rename as renameCallback,
  renameSync,
  type Stats,
  unlinkSync,
} from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { UploadError } from '../errors.js';
import type { DeliverySource, ExistingFilePolicy } from '../ports/destination.js';
import { errnoOf } from './fs-errors.js';
import { sameTree, sha256File } from './tree.js';

const openAsync = promisify(openCallback);
const renameAsync = promisify(renameCallback);

/** `lstat` of a name (a metadata read: synchronous), null when it does not exist. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw error;
  }
}

/** Close a descriptor whose work is done (or failed): a close error changes nothing for the caller. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed or never valid.
  }
}

export type Progress = (bytes: number) => void;

/** Copy one file to `target` (created or truncated), fsync it, report each chunk. */
export async function copyFile(
  from: string,
  target: string,
  progress: Progress,
  signal?: AbortSignal,
): Promise<number> {
  // Target first: if it cannot be opened, no source descriptor is left open.
  const handle = await open(target, 'w');
  const input = createReadStream(from, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) });
  let written = 0;
  try {
    for await (const chunk of input) {
      const buffer = chunk as Buffer;
      await handle.write(buffer);
      written += buffer.length;
      progress(buffer.length);
    }
    await handle.sync();
  } finally {
    input.destroy();
    await handle.close();
  }
  return written;
}

/**
 * How the folder destination puts a finished `.partial` under its final name
 * inside `root`, under the `onExisting` policy: the checks, the atomic
 * renames and links, and the `.partial`'s creation.
 */
export function folderPlacement(root: string, policy: ExistingFilePolicy) {
  async function isSame(source: DeliverySource, final: string, existing: Stats, signal?: AbortSignal) {
    if (source.kind === 'file') {
      if (!existing.isFile() || existing.size !== source.size) return false;
      return (await sha256File(final, signal)) === source.sha256.toLowerCase();
    }
    if (!existing.isDirectory()) return false;
    return sameTree(source.path, final, signal).catch((error: unknown) => {
      if (error instanceof UploadError && error.code === 'UNSAFE_PATH') return false;
      throw error;
    });
  }

  /**
   * Move `partial` to `final`, replacing what is there (a file atomically; a
   * folder by moving it aside first). Renames and links are metadata
   * operations: synchronous calls.
   */
  async function publish(
    partial: string,
    final: string,
    kind: DeliverySource['kind'],
    known?: Stats | null,
  ): Promise<void> {
    const existing = known === undefined ? lstatOrNull(final) : known;
    if (policy === 'fail' && kind === 'file') {
      // link() refuses an existing name: no window where a racing writer is overwritten.
      try {
        linkSync(partial, final);
        unlinkSync(partial);
        return;
      } catch (error) {
        if (errnoOf(error) === 'EEXIST') throw exists(final);
        const errno = errnoOf(error);
        if (errno !== 'EPERM' && errno !== 'ENOTSUP' && errno !== 'EOPNOTSUPP' && errno !== 'EXDEV')
          throw error;
        if (lstatOrNull(final)) throw exists(final);
      }
    }
    if (policy === 'fail' && existing) throw exists(final);
    if (!existing || (kind === 'file' && !existing.isDirectory())) {
      renameSync(partial, final);
      return;
    }
    const aside = `${final}.replaced-${randomBytes(4).toString('hex')}.partial`;
    renameSync(final, aside);
    try {
      renameSync(partial, final);
    } catch (error) {
      try {
        renameSync(aside, final);
      } catch {
        // The original stays under its aside name; the error below says the delivery failed.
      }
      throw error;
    }
    await rm(aside, { recursive: true, force: true });
  }

  function exists(final: string): UploadError {
    const remote = relative(root, final).split(sep).join('/');
    return new UploadError(
      'DESTINATION_EXISTS',
      `${JSON.stringify(remote)} already exists at the destination and the policy is "fail".`,
      { stage: 'deliver', details: { path: remote } },
    );
  }

  /**
   * The `overwrite` policy's usual case in one call: rename `partial` over
   * `final` when that is free or a file (replaced atomically). False when
   * `final` is a folder: `publish` moves it aside. Through the thread pool:
   * like the writes, a rename in a folder being fsynced waits for the file
   * system.
   */
  async function renamedOverFile(partial: string, final: string): Promise<boolean> {
    try {
      await renameAsync(partial, final);
      return true;
    } catch (error) {
      const errno = errnoOf(error);
      if (errno === 'EISDIR' || errno === 'ENOTEMPTY' || errno === 'EEXIST') return false;
      throw error;
    }
  }

  /** The `fail` policy before any byte is written; the existing final file, if any. */
  function refuseExisting(final: string): Stats | null {
    const existing = lstatOrNull(final);
    if (existing && policy === 'fail') throw exists(final);
    return existing;
  }

  /**
   * Open `partial` for writing (created or truncated); a `.partial` folder
   * left by a folder delivery is removed first. Through the thread pool:
   * creating a file in a folder whose entries are being fsynced can wait for
   * the file system's journal (0.1–0.4 ms measured here), which on the event
   * loop would hold up every other job.
   */
  async function openPartial(partial: string): Promise<number> {
    try {
      return await openAsync(partial, 'w');
    } catch (error) {
      if (errnoOf(error) !== 'EISDIR') throw error;
      await rm(partial, { recursive: true, force: true });
      return openAsync(partial, 'w');
    }
  }

  return { isSame, publish, exists, renamedOverFile, refuseExisting, openPartial };
}
