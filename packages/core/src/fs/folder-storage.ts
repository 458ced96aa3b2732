import {
  closeSync,
  type Dirent,
  fstatSync,
  lstatSync,
  open as openCallback,
  openSync,
  read as readCallback,
  readSync,
  readvSync,
  realpathSync,
} from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UploadError } from '../errors.js';
import type { CallOptions, FileRef } from '../ports/file-ref.js';
import type { OpenedFile, Storage } from '../ports/storage.js';
import { compareKeys, decodeName, isInside, linked, notUtf8, rawSegments } from './folder-names.js';
import { fill, fillAsync, type ReadAt, readFolder, SYNC_STAT_ENTRIES, statQuietly } from './folder-reads.js';
import { errnoOf, fromFsError, safePath, throwIfAborted } from './fs-errors.js';
import { realPathOfOpen } from './real-path.js';

export interface FolderStorageOptions {
  /**
   * The folder files are read from; a file's `key` is its path relative to this
   * folder, with `/` separators. Required. Keys that climb out of it (`..`,
   * absolute paths) or go through a symbolic link (a linked file, or a linked
   * job, user or campaign folder that would read another job's files) are
   * refused with `UNSAFE_PATH`, and so is a listed name that is not valid UTF-8
   * (it cannot be a key and would otherwise be left out of the job).
   */
  root: string;
  /** Read buffer size in bytes. Default 1 MiB. */
  highWaterMark?: number;
}

export interface FolderStorage extends Storage {
  /** The absolute folder the storage reads from. */
  readonly root: string;
  open(file: FileRef, options?: CallOptions): Promise<OpenedFile>;
  read(file: FileRef, options?: CallOptions): Promise<Buffer>;
  readInto(file: FileRef, target: Buffer, options?: CallOptions): Promise<number>;
  list(prefix: string, options?: CallOptions): AsyncIterable<FileRef>;
}

const openAsync = promisify(openCallback);
const readAsync = promisify(readCallback);

/** Files up to this size are read with synchronous calls (see `readSmall`). */
const SMALL_FILE = 64 * 1024;

/** One byte read past a file's expected end, to notice a file longer than its size (synchronous reads only). */
const GROWN = Buffer.alloc(1);

/**
 * A local folder as `Storage`: the embedded default when no S3 is configured,
 * and a simple way to feed the pipeline from a mounted share.
 */
export function createFolderStorage(options: FolderStorageOptions): FolderStorage {
  if (!options || typeof options.root !== 'string' || options.root.length === 0) {
    throw new UploadError('CONFIG_INVALID', 'createFolderStorage needs a `root` folder.');
  }
  const root = resolve(options.root);
  const highWaterMark = options.highWaterMark ?? 1024 * 1024;
  let realRoot: string | undefined;
  const getRealRoot = async () => {
    realRoot ??= await realpath(root);
    return realRoot;
  };

  const notFound = (key: string, cause?: unknown) =>
    new UploadError('FILE_NOT_FOUND', `File ${JSON.stringify(key)} is not in the storage folder.`, {
      stage: 'fetch',
      cause,
      details: { key },
    });

  /** The paths a key may be stored under: as written, then NFC; a key that climbs out is refused. */
  function candidatesOf(key: string): string[] {
    const safe = safePath(key, 'fetch');
    const raw = rawSegments(key);
    if (raw.includes('..')) safePath('..', 'fetch');
    return [...new Set([join(root, ...raw), join(root, ...safe.split('/'))])];
  }

  /**
   * Open the first of the key's candidate paths that exists (`tryOpen` is
   * `open` or `openSync`); FILE_NOT_FOUND when none does, else the file
   * system's error.
   */
  async function openCandidate<T>(
    key: string,
    signal: AbortSignal | undefined,
    tryOpen: (path: string) => T | Promise<T>,
  ): Promise<{ opened: T; path: string }> {
    let lastError: unknown;
    for (const path of candidatesOf(key)) {
      try {
        return { opened: await tryOpen(path), path };
      } catch (error) {
        lastError = error;
        const errno = errnoOf(error);
        if (errno !== 'ENOENT' && errno !== 'ENOTDIR') break;
      }
    }
    const errno = errnoOf(lastError);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') throw notFound(key, lastError);
    throw fromFsError(lastError, 'fetch', 'STORAGE_ERROR', `file ${JSON.stringify(key)}`, signal);
  }

  /** The path as written must be the real one: no linked folder or file below the root. */
  function assertNotLinked(key: string, path: string, real: string, base: string): void {
    if (real !== join(base, relative(root, path))) throw linked(key, 'fetch', !isInside(base, real));
  }

  /**
   * A small file in one go with synchronous calls (open, realpath, fstat, read,
   * close): for a file of a few KiB, each thread-pool round trip costs more
   * than the call. Same checks as `openFile`. Undefined when the file is larger
   * than SMALL_FILE after all: the caller reads it as a stream.
   */
  async function readSmall(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const { opened: fd, path } = await openCandidate(key, signal, (candidate) => openSync(candidate, 'r'));
    try {
      realRoot ??= realpathSync.native(root);
      assertNotLinked(key, path, realPathOfOpen(fd) ?? realpathSync.native(path), realRoot);
      const info = fstatSync(fd);
      if (!info.isFile()) throw notFound(key);
      if (info.size > SMALL_FILE) return undefined;
      // One byte more than the size, to notice a file that grew meanwhile (the caller's size check reports it).
      const buffer = Buffer.allocUnsafe(info.size + 1);
      let read = 0;
      while (read < buffer.length) {
        const got = readSync(fd, buffer, read, buffer.length - read, read);
        if (got === 0) break;
        read += got;
      }
      return buffer.subarray(0, read);
    } catch (error) {
      throw fromFsError(error, 'fetch', 'STORAGE_ERROR', `file ${JSON.stringify(key)}`, signal);
    } finally {
      closeSync(fd);
    }
  }

  async function readFile(file: FileRef, callOptions: CallOptions = {}): Promise<Buffer> {
    const { signal } = callOptions;
    throwIfAborted(signal, 'fetch');
    if (file.size === undefined || file.size <= SMALL_FILE) {
      const small = await readSmall(file.key, signal);
      if (small) return small;
    }
    const opened = await openFile(file, callOptions);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of opened.stream) chunks.push(chunk as Buffer);
    } catch (error) {
      throw fromFsError(error, 'fetch', 'STORAGE_ERROR', `file ${JSON.stringify(file.key)}`, signal);
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  }

  /**
   * `file` straight into `target` (see `Storage.readInto`): open, the link
   * check, reads (one `readv` for a small file: the target and a spare byte), close; no stat (a folder fails the read with EISDIR and is
   * reported as not found, as `open` does). A target of up to SMALL_FILE is
   * read with synchronous calls, a larger one through the thread pool.
   */
  async function readInto(file: FileRef, target: Buffer, callOptions: CallOptions = {}): Promise<number> {
    const { signal } = callOptions;
    throwIfAborted(signal, 'fetch');
    const small = target.length <= SMALL_FILE;
    const { opened: fd, path } = await openCandidate(file.key, signal, (candidate) =>
      small ? openSync(candidate, 'r') : openAsync(candidate, 'r'),
    );
    try {
      if (small) {
        realRoot ??= realpathSync.native(root);
        assertNotLinked(file.key, path, realPathOfOpen(fd) ?? realpathSync.native(path), realRoot);
        // The file and one byte past its expected end in one call: a longer file fills the spare byte.
        // All of a regular file's bytes up to the buffers' end come back unless it ends first.
        const first = readvSync(fd, [target, GROWN], 0);
        if (first >= target.length) return first;
        const readAt: ReadAt = (buffer, offset, length, position) =>
          readSync(fd, buffer, offset, length, position);
        const read = first + fill(target.subarray(first), readAt, first);
        return read < target.length ? read : read + fill(GROWN, readAt, target.length);
      }
      const [real, base] = await Promise.all([realPathOfOpen(fd) ?? realpath(path), getRealRoot()]);
      assertNotLinked(file.key, path, real, base);
      const readSome = async (buffer: Buffer, offset: number, length: number, position: number) => {
        throwIfAborted(signal, 'fetch');
        return (await readAsync(fd, buffer, offset, length, position)).bytesRead;
      };
      const read = await fillAsync(target, readSome);
      return read < target.length ? read : read + (await fillAsync(Buffer.alloc(1), readSome, target.length));
    } catch (error) {
      if (errnoOf(error) === 'EISDIR') throw notFound(file.key, error);
      throw fromFsError(error, 'fetch', 'STORAGE_ERROR', `file ${JSON.stringify(file.key)}`, signal);
    } finally {
      closeSync(fd);
    }
  }

  async function openFile(file: FileRef, callOptions: CallOptions = {}): Promise<OpenedFile> {
    const { signal } = callOptions;
    throwIfAborted(signal, 'fetch');
    const { opened: handle, path } = await openCandidate(file.key, signal, (candidate) =>
      open(candidate, 'r'),
    );
    try {
      const [real, base] = await Promise.all([realPathOfOpen(handle.fd) ?? realpath(path), getRealRoot()]);
      assertNotLinked(file.key, path, real, base);
      const info = await handle.stat();
      if (!info.isFile()) throw notFound(file.key);
      throwIfAborted(signal, 'fetch');
      const stream = handle.createReadStream({ highWaterMark, ...(signal ? { signal } : {}) });
      return { stream, size: info.size };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw fromFsError(error, 'fetch', 'STORAGE_ERROR', `file ${JSON.stringify(file.key)}`, signal);
    }
  }

  /** `folder` (each of its parents below the root) must be a real folder, not a link. */
  async function refuseLinkedFolders(folder: string): Promise<void> {
    let walked = '';
    for (const part of folder === '' ? [] : folder.split('/')) {
      walked = walked === '' ? part : `${walked}/${part}`;
      // A few segments of a prefix: synchronous lstat costs less than a thread-pool round trip each.
      let info: ReturnType<typeof lstatSync>;
      try {
        info = lstatSync(join(root, walked));
      } catch {
        return; // missing (or unreadable): the walk lists nothing or reports it
      }
      if (info.isSymbolicLink()) throw linked(`${walked}/`, 'resolve', false);
    }
  }

  async function* list(prefix: string, callOptions: CallOptions = {}): AsyncGenerator<FileRef> {
    const { signal } = callOptions;
    const normalised = (prefix ?? '').replace(/\\/g, '/');
    const cut = normalised.lastIndexOf('/');
    const folderPart = cut === -1 ? '' : normalised.slice(0, cut);
    const namePart = cut === -1 ? normalised : normalised.slice(cut + 1);
    const folder = folderPart.replace(/^\/+|\/+$/g, '') === '' ? '' : safePath(folderPart, 'resolve');
    const filter = (folder === '' ? '' : `${folder}/`) + namePart.normalize('NFC');

    const found: FileRef[] = [];
    const walk = async (relativeFolder: string): Promise<void> => {
      throwIfAborted(signal, 'resolve');
      let entries: Dirent<Buffer>[];
      try {
        entries = await readFolder(join(root, relativeFolder));
      } catch (error) {
        const errno = errnoOf(error);
        if (errno === 'ENOENT' || errno === 'ENOTDIR') return;
        throw fromFsError(
          error,
          'resolve',
          'STORAGE_ERROR',
          `folder ${JSON.stringify(relativeFolder)}`,
          signal,
        );
      }
      for (const entry of entries) {
        const name = decodeName(entry.name);
        const key = `${relativeFolder === '' ? '' : `${relativeFolder}/`}${name ?? entry.name.toString('utf8')}`;
        // Symbolic links are not followed: they could point anywhere.
        if (entry.isDirectory()) {
          // Only descend where keys below can still match the filter.
          const asFolder = `${key}/`.normalize('NFC');
          if (!(asFolder.startsWith(filter) || filter.startsWith(asFolder))) continue;
          if (name === undefined) throw notUtf8(relativeFolder, entry.name);
          await walk(key);
        } else if (entry.isFile() && key.normalize('NFC').startsWith(filter)) {
          // A name that is not UTF-8 cannot be a key: fail rather than leave the file out.
          if (name === undefined) throw notUtf8(relativeFolder, entry.name);
          const path = join(root, key);
          const info =
            entries.length <= SYNC_STAT_ENTRIES ? statQuietly(path) : await stat(path).catch(() => undefined);
          if (info?.isFile()) found.push({ key, size: info.size });
        }
      }
    };
    await refuseLinkedFolders(folder);
    await walk(folder);
    found.sort((a, b) => compareKeys(a.key, b.key));
    for (const file of found) {
      throwIfAborted(signal, 'resolve');
      yield file;
    }
  }

  return {
    root,
    open: openFile,
    read: readFile,
    readInto,
    list,
    async ping() {
      const info = await stat(root).catch((error: unknown) => {
        throw fromFsError(error, 'resolve', 'STORAGE_ERROR', 'the storage folder');
      });
      if (!info.isDirectory()) {
        throw new UploadError('CONFIG_INVALID', 'The storage root is not a folder.', { stage: 'resolve' });
      }
    },
  };
}
