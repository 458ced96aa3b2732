import { stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { isUploadError, UploadError } from '../errors.js';
import { safeRelativePath } from '../paths.js';
import type {
  BeginUploadOptions,
  DeliveryReceipt,
  DeliverySource,
  Destination,
  UploadOptions,
  UploadSession,
} from '../ports/destination.js';
import type { CallOptions } from '../ports/file-ref.js';
import { openConnection, type SftpConnection } from './connection.js';
import { abortError, operationError } from './errors.js';
import { type ResolvedSftpOptions, resolveSftpOptions, type SftpDestinationOptions } from './options.js';
import { ConnectionPool, type SftpPoolStats } from './pool.js';
import { beginStreamUpload } from './stream-session.js';
import { writeShape } from './stream-upload.js';
import {
  commitPartial,
  ensureRemoteDir,
  existsError,
  localSha256,
  remoteSha256,
  remoteSize,
  remoteStat,
  runOperation,
} from './transfer.js';
import { createUploadThread, type UploadThread, uploadWorkerEntry } from './upload-thread.js';

/** An SFTP `Destination` with pool counters. */
export interface SftpDestination extends Destination {
  upload(source: DeliverySource, remotePath: string, options?: UploadOptions): Promise<DeliveryReceipt>;
  /** Stream to `<remotePath>.partial` with pipelined writes; rename on commit. */
  beginUpload(remotePath: string, options?: BeginUploadOptions): Promise<UploadSession>;
  /** Remove `<remotePath>.partial` left by an interrupted delivery (never the final file). */
  discardPartial(remotePath: string, options?: CallOptions): Promise<void>;
  /** Connect (or reuse a pooled connection) and check that `remoteDir` is a folder. */
  ping(options?: CallOptions): Promise<void>;
  /** Close every pooled connection; uploads in flight fail. */
  close(): Promise<void>;
  /** Pool counters (open, idle, busy, waiting, created). */
  stats(): SftpPoolStats;
}

interface FileJob {
  local: string;
  sha256: string | undefined;
  /** Path relative to remoteDir. */
  relative: string;
  knownDirs: Set<string>;
  signal: AbortSignal | undefined;
  onBytes: (done: number) => void;
}

/**
 * Deliver archives (or folder trees) to an SFTP server, atomically: each file
 * is written to `<name>.partial` with parallel requests, then renamed over the
 * final name, so the final name never holds partial content.
 */
export function createSftpDestination(input: SftpDestinationOptions): SftpDestination {
  const options = resolveSftpOptions(input);
  const { logger } = options;
  if (!options.hostFingerprint) {
    const warning = `SFTP host key checking is DISABLED for ${options.host}:${options.port} (insecureSkipHostKeyCheck): any server can pose as it. Pin hostFingerprint in production.`;
    if (logger) logger.warn({ host: options.host, port: options.port }, warning);
    else process.emitWarning(warning, { code: 'NCR_UPLOAD_INSECURE_SFTP' });
  }
  const entry = options.uploadThread ? uploadWorkerEntry() : undefined;
  if (options.uploadThread && !entry) {
    logger?.warn({}, 'sftp: the upload thread program is missing; streamed uploads run on the main thread');
  }
  return buildSftpDestination(options, {
    uploadThread: entry ? createUploadThread(input, entry, logger) : false,
  });
}

/** The destination for already resolved options; streamed uploads go to `uploadThread` when given. */
export function buildSftpDestination(
  options: ResolvedSftpOptions,
  internal: { uploadThread: UploadThread | false },
): SftpDestination {
  const { logger } = options;
  const endpoint = `${options.host}:${options.port}`;
  const thread = internal.uploadThread || undefined;
  const pool = new ConnectionPool({
    max: options.pool.max,
    idleTimeoutMs: options.pool.idleTimeoutMs,
    checkTimeoutMs: options.readyTimeoutMs,
    logger,
    connect: (signal) => openConnection(options, signal),
  });
  let base: string | undefined;

  /** remoteDir as an absolute path (relative ones are resolved against the login folder once). */
  async function baseDir(connection: SftpConnection): Promise<string> {
    if (base !== undefined) return base;
    if (posix.isAbsolute(options.remoteDir)) {
      base = posix.normalize(options.remoteDir);
    } else {
      const home = await runOperation(connection, 'resolve the login folder', () =>
        connection.client.realPath('.'),
      );
      base = posix.join(home, options.remoteDir);
    }
    return base;
  }

  async function withConnection<T>(
    signal: AbortSignal | undefined,
    action: (connection: SftpConnection) => Promise<T>,
  ): Promise<T> {
    const connection = await pool.acquire(signal);
    // Aborting drops the connection: that stops every request in flight at once.
    const onAbort = () => connection.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    let broken = false;
    try {
      return await action(connection);
    } catch (error) {
      const mapped = signal?.aborted
        ? abortError(signal, error)
        : operationError(error, connection.facts, 'upload');
      broken = mapped.code === 'CONNECTION_ERROR' || mapped.code === 'CANCELLED';
      throw mapped;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      pool.release(connection, broken);
    }
  }

  /**
   * Best effort: a leftover `.partial` is harmless (the next attempt replaces it) but untidy.
   * Never queues for the pool: when every connection is taken by other uploads, the failed
   * upload would otherwise wait for one of them to finish before it could report its error.
   */
  async function removePartial(partial: string): Promise<void> {
    try {
      const connection = await pool.acquire(undefined, { wait: false });
      if (!connection) {
        logger?.debug(
          { remote_path: partial },
          'sftp: pool busy, leaving a partial upload to the next attempt',
        );
        return;
      }
      try {
        await connection.client.delete(partial, true);
      } finally {
        pool.release(connection);
      }
    } catch (error) {
      logger?.warn(
        { remote_path: partial, code: isUploadError(error) ? error.code : undefined },
        'sftp: could not remove a partial upload; the next attempt replaces it',
      );
    }
  }

  async function deliverFile(job: FileJob): Promise<DeliveryReceipt> {
    const display = posix.join(options.remoteDir, job.relative);
    const size = await localSize(job.local);
    let partialToRemove: string | undefined;
    try {
      return await withConnection(job.signal, async (connection) => {
        const final = posix.join(await baseDir(connection), job.relative);
        const partial = `${final}.partial`;
        await ensureRemoteDir(connection, posix.dirname(final), job.knownDirs);
        const existing = await remoteSize(connection, final);
        if (existing !== undefined) {
          if (options.onExisting === 'fail') throw existsError(display);
          if (options.onExisting === 'skip-if-same' && existing === size) {
            const expected = job.sha256 || (await localSha256(job.local, job.signal));
            if ((await remoteSha256(connection, final, job.signal)) === expected) {
              job.onBytes(size);
              return { remote_path: display, bytes: 0, skipped: true };
            }
          }
        }
        partialToRemove = partial;
        const shape = writeShape(connection, {
          chunkSize: options.chunkSize,
          concurrency: options.uploadConcurrency,
        });
        await runOperation(connection, `upload ${display}`, () =>
          connection.client.fastPut(job.local, partial, {
            ...shape,
            step: (done: number) => job.onBytes(done),
          }),
        );
        const written = await remoteSize(connection, partial);
        if (written !== size) {
          throw new UploadError(
            'SIZE_MISMATCH',
            `The server holds ${written ?? 0} bytes of ${display} after the upload, expected ${size}.`,
            { stage: 'deliver', retryable: true },
          );
        }
        await commitPartial(connection, partial, final, options.onExisting, display);
        partialToRemove = undefined;
        job.onBytes(size);
        return { remote_path: display, bytes: size };
      });
    } catch (error) {
      if (partialToRemove) await removePartial(partialToRemove);
      throw error;
    }
  }

  async function upload(source: DeliverySource, remotePath: string, call: UploadOptions = {}) {
    const { signal, onProgress } = call;
    const relative = deliverPath(remotePath);
    if (signal?.aborted) throw abortError(signal);
    const knownDirs = new Set<string>();
    if (source.kind === 'file') {
      return deliverFile({
        local: source.path,
        sha256: source.sha256,
        relative,
        knownDirs,
        signal,
        onBytes: (done) => onProgress?.(done, source.size),
      });
    }
    // A folder: each file is delivered atomically, one after the other; the folder as a whole is not.
    const total = source.size;
    let doneBefore = 0;
    let skipped = 0;
    await withConnection(signal, async (connection) =>
      ensureRemoteDir(connection, posix.join(await baseDir(connection), relative), knownDirs),
    );
    for (const entry of source.entries) {
      const entryPath = deliverPath(entry.path);
      const receipt = await deliverFile({
        local: join(source.path, ...entryPath.split('/')),
        sha256: undefined,
        relative: posix.join(relative, entryPath),
        knownDirs,
        signal,
        onBytes: (done) => onProgress?.(doneBefore + done, total),
      });
      if (receipt.skipped) skipped += 1;
      doneBefore += receipt.bytes;
    }
    const receipt: DeliveryReceipt = {
      remote_path: posix.join(options.remoteDir, relative),
      bytes: doneBefore,
    };
    if (source.entries.length > 0 && skipped === source.entries.length) receipt.skipped = true;
    return receipt;
  }

  /** A streamed upload to `<remotePath>.partial` on one pooled connection, held until commit or abort. */
  const beginUpload = async (remotePath: string, call: BeginUploadOptions = {}): Promise<UploadSession> =>
    beginStreamUpload({ options, pool, baseDir, removePartial }, deliverPath(remotePath), call);

  return {
    upload,
    beginUpload: thread
      ? (remotePath, call = {}) => {
          deliverPath(remotePath);
          return thread.beginUpload(remotePath, call);
        }
      : beginUpload,
    async discardPartial(remotePath: string, call: CallOptions = {}) {
      const relative = deliverPath(remotePath);
      await withConnection(call.signal, async (connection) => {
        const partial = `${posix.join(await baseDir(connection), relative)}.partial`;
        await connection.client.delete(partial, true);
      });
    },
    async ping(call: CallOptions = {}) {
      await withConnection(call.signal, async (connection) => {
        const dir = await baseDir(connection);
        const stats = await remoteStat(connection, dir);
        if (!stats?.isDirectory) {
          throw new UploadError(
            'DESTINATION_ERROR',
            `remoteDir ${options.remoteDir} ${stats ? 'is not a folder' : 'does not exist'} on the SFTP server ${endpoint}.`,
            { stage: 'deliver', retryable: false },
          );
        }
      });
    },
    async close() {
      await Promise.all([pool.close(), thread?.close()]);
    },
    stats: () => pool.stats(),
  };
}

function deliverPath(path: string): string {
  try {
    return safeRelativePath(path);
  } catch (error) {
    if (isUploadError(error)) error.stage = 'deliver';
    throw error;
  }
}

async function localSize(path: string): Promise<number> {
  try {
    const stats = await stat(path);
    if (!stats.isFile()) throw new Error('not a file');
    return stats.size;
  } catch (error) {
    throw new UploadError('INTERNAL', `The local file to deliver is missing or not a file: ${path}.`, {
      stage: 'deliver',
      cause: error,
    });
  }
}
