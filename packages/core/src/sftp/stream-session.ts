import { posix } from 'node:path';
import { UploadError } from '../errors.js';
import type { BeginUploadOptions, UploadSession } from '../ports/destination.js';
import type { SftpConnection } from './connection.js';
import { abortError, operationError } from './errors.js';
import type { ResolvedSftpOptions } from './options.js';
import type { ConnectionPool } from './pool.js';
import { PipelinedWriter, writeShape } from './stream-upload.js';
import { commitPartial, ensureRemoteDir, existsError, remoteSha256, remoteSize } from './transfer.js';

/** What a streamed upload needs from its destination. */
export interface StreamUploadContext {
  options: ResolvedSftpOptions;
  pool: ConnectionPool;
  /** `remoteDir` as an absolute path on this connection's server. */
  baseDir(connection: SftpConnection): Promise<string>;
  /** Remove a `.partial` on a fresh connection (best effort). */
  removePartial(partial: string): Promise<void>;
}

/**
 * `beginUpload` on the calling thread: `<final>.partial` is written with
 * pipelined requests as chunks come, then checked (size, and sha256 for
 * `skip-if-same`) and renamed on `commit`; `abort` (or any failure) removes
 * it. `relative` is the already checked path under `remoteDir`. The
 * connection is held for the whole session; aborting the signal drops it.
 */
export async function beginStreamUpload(
  context: StreamUploadContext,
  relative: string,
  call: BeginUploadOptions,
): Promise<UploadSession> {
  const { options, pool, baseDir, removePartial } = context;
  const { signal, onProgress } = call;
  if (signal?.aborted) throw abortError(signal);
  const display = posix.join(options.remoteDir, relative);
  const connection = await pool.acquire(signal);
  const onAbort = () => connection.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  const mapError = (error: unknown) =>
    signal?.aborted ? abortError(signal, error) : operationError(error, connection.facts, 'upload');
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    signal?.removeEventListener('abort', onAbort);
    pool.release(connection, connection.facts.closed);
  };
  let final: string;
  let partial: string;
  let writer: PipelinedWriter;
  try {
    final = posix.join(await baseDir(connection), relative);
    partial = `${final}.partial`;
    await ensureRemoteDir(connection, posix.dirname(final), new Set());
    if (options.onExisting === 'fail' && (await remoteSize(connection, final)) !== undefined) {
      throw existsError(display);
    }
    writer = await PipelinedWriter.open(connection, partial, {
      ...writeShape(connection, { chunkSize: options.chunkSize, concurrency: options.uploadConcurrency }),
      ...(onProgress ? { onAcknowledged: onProgress } : {}),
    });
  } catch (error) {
    const mapped = mapError(error);
    release();
    throw mapped;
  }
  let open = true;
  /** Stop, remove the partial file (on this connection when it still works), give the connection back. */
  const cleanup = async () => {
    if (!open) return;
    open = false;
    await writer.discard();
    if (connection.facts.closed) {
      release();
      await removePartial(partial);
      return;
    }
    await connection.client.delete(partial, true).catch(() => undefined);
    release();
  };
  const failWith = async (error: unknown): Promise<never> => {
    const mapped = mapError(error);
    await cleanup();
    throw mapped;
  };
  return {
    async write(chunk) {
      if (!open) throw new UploadError('INTERNAL', 'The upload session is closed.', { stage: 'deliver' });
      if (signal?.aborted) await failWith(signal.reason);
      await writer.write(chunk).catch(failWith);
    },
    async commit(summary) {
      try {
        if (!open) throw new UploadError('INTERNAL', 'The upload session is closed.', { stage: 'deliver' });
        await writer.finish();
        const written = await remoteSize(connection, partial);
        if (written !== summary.size) {
          throw new UploadError(
            'SIZE_MISMATCH',
            `The server holds ${written ?? 0} bytes of ${display} after the upload, expected ${summary.size}.`,
            { stage: 'deliver', retryable: true },
          );
        }
        const existing = await remoteSize(connection, final);
        if (existing !== undefined && options.onExisting === 'skip-if-same' && existing === summary.size) {
          if ((await remoteSha256(connection, final, signal)) === summary.sha256) {
            await cleanup();
            return { remote_path: display, bytes: 0, skipped: true };
          }
        }
        await commitPartial(connection, partial, final, options.onExisting, display);
        open = false;
        release();
        return { remote_path: display, bytes: summary.size };
      } catch (error) {
        return failWith(error);
      }
    },
    abort: cleanup,
  };
}
