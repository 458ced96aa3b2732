import { randomBytes } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import {
  access,
  constants,
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  realpath,
  rename,
  rm,
  unlink,
} from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UploadError } from '../errors.js';
import type {
  BeginUploadOptions,
  DeliveryReceipt,
  DeliverySource,
  Destination,
  ExistingFilePolicy,
  UploadOptions,
  UploadSession,
} from '../ports/destination.js';
import type { CallOptions } from '../ports/file-ref.js';
import { errnoOf, fromFsError, safePath, throwIfAborted } from './fs-errors.js';
import { realPathOfOpen } from './real-path.js';
import { listTree, sameTree, sha256File } from './tree.js';

export interface FolderDestinationOptions {
  /** The folder deliveries land in; `remotePath` is relative to it. Created when missing. Required. */
  root: string;
  /**
   * What to do when the final name already exists: `overwrite` (default)
   * replaces it, `fail` throws `DESTINATION_EXISTS`, `skip-if-same` keeps an
   * identical existing file (same size and sha256) or tree and returns
   * `skipped: true`, and replaces it otherwise.
   */
  onExisting?: ExistingFilePolicy;
}

export interface FolderDestination extends Destination {
  /** The absolute folder deliveries land in. */
  readonly root: string;
  /** Remove `<remotePath>.partial` (file or folder) left by an interrupted delivery; never the final name. */
  discardPartial(remotePath: string): Promise<void>;
  /** Write `<remotePath>.partial` as the bytes come, rename on commit. */
  beginUpload(remotePath: string, options?: BeginUploadOptions): Promise<UploadSession>;
}

const POLICIES: readonly ExistingFilePolicy[] = ['overwrite', 'fail', 'skip-if-same'];

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw error;
  }
}

/** Best-effort fsync of a folder, so a rename survives a crash. */
async function syncFolder(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

type Progress = (bytes: number) => void;

/** Copy one file to `target` (created or truncated), fsync it, report each chunk. */
async function copyFile(
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
 * A local folder as `Destination`: the embedded default when no SFTP server is
 * configured. Deliveries are atomic: bytes go to `<final>.partial` (a file, or
 * a folder for folder deliveries), are fsynced, then renamed. On any error or
 * abort the `.partial` is removed and nothing appears under the final name.
 */
export function createFolderDestination(options: FolderDestinationOptions): FolderDestination {
  if (!options || typeof options.root !== 'string' || options.root.length === 0) {
    throw new UploadError('CONFIG_INVALID', 'createFolderDestination needs a `root` folder.');
  }
  const policy = options.onExisting ?? 'overwrite';
  if (!POLICIES.includes(policy)) {
    throw new UploadError('CONFIG_INVALID', `onExisting must be one of ${POLICIES.join(', ')}.`);
  }
  const root = resolve(options.root);

  /** The root's real path, read once (the root itself may be a link; links below it are checked each time). */
  let realRootCache: string | undefined;
  /**
   * Open `folder` and check that it is (through any links) inside the root.
   * The open folder is returned: the delivery fsyncs it after the rename.
   */
  async function openInsideRoot(folder: string, remotePath: string): Promise<FileHandle> {
    const handle = await open(folder, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    let realRoot: string;
    let realFolder: string;
    try {
      [realRoot, realFolder] = await Promise.all([
        realRootCache ?? realpath(root).then((real) => (realRootCache = real)),
        realPathOfOpen(handle.fd) ?? realpath(folder),
      ]);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    const rel = relative(realRoot, realFolder);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      await handle.close().catch(() => undefined);
      throw new UploadError(
        'UNSAFE_PATH',
        `Delivery path ${JSON.stringify(remotePath)} leads outside the destination folder through a link.`,
        { stage: 'deliver', details: { path: remotePath } },
      );
    }
    return handle;
  }

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

  /** Move `partial` to `final`, replacing what is there (a file atomically; a folder by moving it aside first). */
  async function publish(
    partial: string,
    final: string,
    kind: DeliverySource['kind'],
    known?: Stats | null,
  ): Promise<void> {
    const existing = known === undefined ? await lstatOrNull(final) : known;
    if (policy === 'fail' && kind === 'file') {
      // link() refuses an existing name: no window where a racing writer is overwritten.
      try {
        await link(partial, final);
        await unlink(partial);
        return;
      } catch (error) {
        if (errnoOf(error) === 'EEXIST') throw exists(final);
        const errno = errnoOf(error);
        if (errno !== 'EPERM' && errno !== 'ENOTSUP' && errno !== 'EOPNOTSUPP' && errno !== 'EXDEV')
          throw error;
        if (await lstatOrNull(final)) throw exists(final);
      }
    }
    if (policy === 'fail' && existing) throw exists(final);
    if (!existing || (kind === 'file' && !existing.isDirectory())) {
      await rename(partial, final);
      return;
    }
    const aside = `${final}.replaced-${randomBytes(4).toString('hex')}.partial`;
    await rename(final, aside);
    try {
      await rename(partial, final);
    } catch (error) {
      await rename(aside, final).catch(() => undefined);
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

  /** Make the folder (when missing), check it stays inside the root; the open folder. */
  async function prepareFolder(final: string, remote: string): Promise<FileHandle> {
    const folder = dirname(final);
    try {
      return await openInsideRoot(folder, remote);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
      await mkdir(folder, { recursive: true });
      return openInsideRoot(folder, remote);
    }
  }

  /** The `fail` policy before any byte is written; the existing final file, if any. */
  async function refuseExisting(final: string): Promise<Stats | null> {
    const existing = await lstatOrNull(final);
    if (existing && policy === 'fail') throw exists(final);
    return existing;
  }

  async function beginUpload(
    remotePath: string,
    beginOptions: BeginUploadOptions = {},
  ): Promise<UploadSession> {
    const { signal, onProgress } = beginOptions;
    throwIfAborted(signal, 'deliver');
    const remote = safePath(remotePath, 'deliver');
    const final = join(root, ...remote.split('/'));
    const partial = `${final}.partial`;
    const fail = (error: unknown) =>
      fromFsError(error, 'deliver', 'DESTINATION_ERROR', JSON.stringify(remote), signal);
    let handle: FileHandle | undefined;
    let folderHandle: FileHandle | undefined;
    try {
      folderHandle = await prepareFolder(final, remote);
      // The `fail` policy is checked at commit (and here, to refuse early); `w` truncates an old `.partial`.
      if (policy === 'fail') await refuseExisting(final);
      handle = await open(partial, 'w').catch(async (error: unknown) => {
        // A `.partial` folder left by a folder delivery: remove it, then create the file.
        if (errnoOf(error) !== 'EISDIR') throw error;
        await rm(partial, { recursive: true, force: true });
        return open(partial, 'w');
      });
    } catch (error) {
      await folderHandle?.close().catch(() => undefined);
      throw fail(error);
    }
    let written = 0;
    let ended = false;
    const closeFolder = () => (folderHandle as FileHandle).close().catch(() => undefined);
    const end = async (removePartial: boolean) => {
      if (!ended) {
        ended = true;
        await handle?.close().catch(() => undefined);
      }
      if (removePartial) {
        await rm(partial, { force: true }).catch(() => undefined);
        await closeFolder();
      }
    };
    return {
      async write(chunk) {
        try {
          throwIfAborted(signal, 'deliver');
          if (ended) throw new UploadError('INTERNAL', 'The upload session is closed.', { stage: 'deliver' });
          let done = 0;
          while (done < chunk.length) {
            done += (await (handle as FileHandle).write(chunk, done, chunk.length - done)).bytesWritten;
          }
          written += chunk.length;
          onProgress?.(written);
        } catch (error) {
          await end(true);
          throw fail(error);
        }
      },
      async commit(summary) {
        try {
          throwIfAborted(signal, 'deliver');
          if (written !== summary.size) {
            throw new UploadError(
              'SIZE_MISMATCH',
              `The destination received ${written} bytes of ${summary.size}; it was not delivered.`,
              { stage: 'deliver', retryable: true },
            );
          }
          await (handle as FileHandle).sync();
          await end(false);
          const existing = await lstatOrNull(final);
          if (existing && policy === 'fail') throw exists(final);
          if (existing && policy === 'skip-if-same') {
            const source: DeliverySource = { kind: 'file', path: partial, ...summary };
            if (await isSame(source, final, existing, signal)) {
              await rm(partial, { force: true });
              await closeFolder();
              return { remote_path: remote, bytes: summary.size, skipped: true };
            }
          }
          await publish(partial, final, 'file', existing);
          // Best effort, so the rename survives a crash: the folder opened at the start.
          await (folderHandle as FileHandle).sync().catch(() => undefined);
          await closeFolder();
          return { remote_path: remote, bytes: written };
        } catch (error) {
          await end(true);
          throw fail(error);
        }
      },
      abort: () => end(true),
    };
  }

  async function upload(
    source: DeliverySource,
    remotePath: string,
    uploadOptions: UploadOptions = {},
  ): Promise<DeliveryReceipt> {
    const { signal, onProgress } = uploadOptions;
    throwIfAborted(signal, 'deliver');
    const remote = safePath(remotePath, 'deliver');
    const final = join(root, ...remote.split('/'));
    const partial = `${final}.partial`;
    let partialCreated = false;
    try {
      await (await prepareFolder(final, remote)).close();
      const existing = await refuseExisting(final);
      if (existing && policy === 'skip-if-same' && (await isSame(source, final, existing, signal))) {
        return { remote_path: remote, bytes: source.size, skipped: true };
      }
      await rm(partial, { recursive: true, force: true });
      partialCreated = true;

      let done = 0;
      let total = source.size;
      const progress: Progress = (bytes) => {
        done += bytes;
        try {
          onProgress?.(done, total);
        } catch {
          // Progress is advisory: a failing listener must not break the delivery.
        }
      };
      if (source.kind === 'file') {
        const written = await copyFile(source.path, partial, progress, signal);
        if (written !== source.size) {
          throw new UploadError(
            'SIZE_MISMATCH',
            `The archive has ${written} bytes on disk but ${source.size} were announced; it was not delivered.`,
            { stage: 'deliver' },
          );
        }
      } else {
        const files = await listTree(source.path);
        total = files.reduce((sum, file) => sum + file.size, 0);
        await mkdir(partial);
        for (const file of files) {
          throwIfAborted(signal, 'deliver');
          const target = join(partial, ...file.path.split('/'));
          await mkdir(dirname(target), { recursive: true });
          await copyFile(join(source.path, ...file.path.split('/')), target, progress, signal);
        }
      }
      throwIfAborted(signal, 'deliver');
      await publish(partial, final, source.kind);
      partialCreated = false;
      await syncFolder(dirname(final));
      return { remote_path: remote, bytes: done };
    } catch (error) {
      if (partialCreated) await rm(partial, { recursive: true, force: true }).catch(() => undefined);
      throw fromFsError(error, 'deliver', 'DESTINATION_ERROR', JSON.stringify(remote), signal);
    }
  }

  return {
    root,
    upload,
    beginUpload,
    async discardPartial(remotePath: string) {
      const remote = safePath(remotePath, 'deliver');
      await rm(`${join(root, ...remote.split('/'))}.partial`, { recursive: true, force: true });
    },
    async ping(_options?: CallOptions) {
      try {
        await mkdir(root, { recursive: true });
        await access(root, constants.W_OK);
      } catch (error) {
        throw fromFsError(error, 'deliver', 'DESTINATION_ERROR', 'the destination folder');
      }
    },
  };
}
