import { fsync, unlinkSync, write, writeSync } from 'node:fs';
import { access, constants, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
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
import { deliveryFolders, type OpenFolder } from './delivery-folder.js';
import { closeQuietly, copyFile, folderPlacement, lstatOrNull, type Progress } from './folder-placement.js';
import { fromFsError, safePath, throwIfAborted } from './fs-errors.js';
import { listTree } from './tree.js';

const fsyncAsync = promisify(fsync);
const writeAsync = promisify(write);

/**
 * A streamed chunk up to this size is written with a synchronous call (the
 * page cache takes it in microseconds; a thread-pool round trip costs more);
 * a larger one goes through the thread pool. The fsyncs always do. Above
 * 64 KiB a write into a folder whose files are being fsynced waits for the
 * file system (165 µs per 192 KB zip on average, measured in `serve` at
 * 1,000 small jobs a second), which on the event loop holds up every request.
 */
const SYNC_WRITE_BYTES = 64 * 1024;

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

  const folders = deliveryFolders(root);
  const { isSame, publish, exists, renamedOverFile, refuseExisting, openPartial } = folderPlacement(
    root,
    policy,
  );

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
    let fd: number | undefined;
    let opened: OpenFolder | undefined;
    try {
      // The folder stays open: it is fsynced after the rename.
      opened = folders.open(dirname(final), remote);
      // The `fail` policy is checked at commit (and here, to refuse early); `w` truncates an old `.partial`.
      if (policy === 'fail') refuseExisting(final);
      fd = await openPartial(partial);
    } catch (error) {
      if (opened !== undefined) closeQuietly(opened.fd);
      throw fail(error);
    }
    const file = fd;
    const folder = opened;
    let written = 0;
    let ended = false;
    let folderClosed = false;
    const closeFolder = () => {
      if (folderClosed) return;
      folderClosed = true;
      closeQuietly(folder.fd);
    };
    const end = async (removePartial: boolean) => {
      if (!ended) {
        ended = true;
        closeQuietly(file);
      }
      if (removePartial) {
        try {
          unlinkSync(partial);
        } catch {
          // Already gone (or never made it past the open): nothing to remove.
        }
        closeFolder();
      }
    };
    return {
      async write(chunk) {
        try {
          throwIfAborted(signal, 'deliver');
          if (ended) throw new UploadError('INTERNAL', 'The upload session is closed.', { stage: 'deliver' });
          let done = 0;
          while (done < chunk.length) {
            done +=
              chunk.length <= SYNC_WRITE_BYTES
                ? writeSync(file, chunk, done, chunk.length - done)
                : (await writeAsync(file, chunk, done, chunk.length - done)).bytesWritten;
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
          await fsyncAsync(file);
          await end(false);
          if (policy === 'overwrite' && (await renamedOverFile(partial, final))) {
            // Best effort, so the rename survives a crash: the folder opened at the start.
            await folders.sync(folder).catch(() => undefined);
            closeFolder();
            return { remote_path: remote, bytes: written };
          }
          const existing = lstatOrNull(final);
          if (existing && policy === 'fail') throw exists(final);
          if (existing && policy === 'skip-if-same') {
            const source: DeliverySource = { kind: 'file', path: partial, ...summary };
            if (await isSame(source, final, existing, signal)) {
              await rm(partial, { force: true });
              closeFolder();
              return { remote_path: remote, bytes: summary.size, skipped: true };
            }
          }
          await publish(partial, final, 'file', existing);
          // Best effort, so the rename survives a crash: the folder opened at the start.
          await folders.sync(folder).catch(() => undefined);
          closeFolder();
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
    let opened: OpenFolder | undefined;
    try {
      // The folder stays open: it is fsynced after the rename.
      opened = folders.open(dirname(final), remote);
      const existing = refuseExisting(final);
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
      // Best effort, so the rename survives a crash.
      await folders.sync(opened).catch(() => undefined);
      return { remote_path: remote, bytes: done };
    } catch (error) {
      if (partialCreated) await rm(partial, { recursive: true, force: true }).catch(() => undefined);
      throw fromFsError(error, 'deliver', 'DESTINATION_ERROR', JSON.stringify(remote), signal);
    } finally {
      if (opened !== undefined) closeQuietly(opened.fd);
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
