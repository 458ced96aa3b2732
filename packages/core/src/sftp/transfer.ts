import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UploadError } from '../errors.js';
import type { ExistingFilePolicy } from '../ports/destination.js';
import type { SftpConnection } from './connection.js';
import { operationError } from './errors.js';

type Stats = Awaited<ReturnType<SftpConnection['client']['stat']>>;

/** `stat` (following links), or undefined when the path does not exist. */
export async function remoteStat(connection: SftpConnection, path: string): Promise<Stats | undefined> {
  try {
    return await connection.client.stat(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 2) return undefined;
    throw operationError(error, connection.facts, `stat ${path}`);
  }
}

/** The remote file's size, or undefined when it does not exist. */
export async function remoteSize(connection: SftpConnection, path: string): Promise<number | undefined> {
  const stats = await remoteStat(connection, path);
  if (!stats) return undefined;
  if (!stats.isFile) {
    throw new UploadError('DESTINATION_ERROR', `The remote path ${path} exists and is not a regular file.`, {
      stage: 'deliver',
    });
  }
  return stats.size;
}

/** `mkdir -p` for a remote folder; `known` remembers folders already made by this upload. */
export async function ensureRemoteDir(
  connection: SftpConnection,
  dir: string,
  known: Set<string>,
): Promise<void> {
  if (dir === '.' || dir === '/' || dir === '' || known.has(dir)) return;
  const stats = await remoteStat(connection, dir);
  if (!stats) {
    await ensureRemoteDir(connection, posix.dirname(dir), known);
    try {
      await connection.client.mkdir(dir, false);
    } catch (error) {
      // Another upload may have made it meanwhile.
      if (!(await remoteStat(connection, dir).catch(() => undefined))?.isDirectory) {
        throw operationError(error, connection.facts, `create folder ${dir}`);
      }
    }
  } else if (!stats.isDirectory) {
    throw new UploadError('DESTINATION_ERROR', `The remote path ${dir} exists and is not a folder.`, {
      stage: 'deliver',
    });
  }
  known.add(dir);
}

/** sha256 (hex) of a remote file, streamed. */
export async function remoteSha256(
  connection: SftpConnection,
  path: string,
  signal?: AbortSignal,
): Promise<string> {
  const hash = createHash('sha256');
  try {
    await pipeline(connection.client.createReadStream(path), hash, signal ? { signal } : {});
  } catch (error) {
    throw operationError(error, connection.facts, `read ${path}`, signal);
  }
  return hash.digest('hex');
}

/** sha256 (hex) of a local file. */
export async function localSha256(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash, signal ? { signal } : {});
  return hash.digest('hex');
}

/**
 * Move `<final>.partial` over the final name. `overwrite` and `skip-if-same`
 * use posix-rename@openssh.com (atomic replace), falling back to delete +
 * rename on servers without it; `fail` uses the plain SFTP rename, which
 * refuses an existing target.
 */
export async function commitPartial(
  connection: SftpConnection,
  partial: string,
  final: string,
  policy: ExistingFilePolicy,
  displayPath: string,
): Promise<void> {
  const { client, facts } = connection;
  if (policy === 'fail') {
    try {
      await client.rename(partial, final);
    } catch (error) {
      if (await remoteStat(connection, final).catch(() => undefined)) throw existsError(displayPath);
      throw operationError(error, facts, `rename ${partial} to ${final}`);
    }
    return;
  }
  try {
    await client.posixRename(partial, final);
    return;
  } catch (error) {
    if (!unsupported(error)) throw operationError(error, facts, `rename ${partial} to ${final}`);
  }
  await run(connection, `delete ${final}`, () => client.delete(final, true));
  await run(connection, `rename ${partial} to ${final}`, () => client.rename(partial, final));
}

export function existsError(displayPath: string): UploadError {
  return new UploadError(
    'DESTINATION_EXISTS',
    `${displayPath} already exists at the destination and onExisting is "fail". Remove it or choose another policy.`,
    { stage: 'deliver', retryable: false, details: { remote_path: displayPath } },
  );
}

function unsupported(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 8 || /not support|unsupported/i.test(String((error as Error)?.message));
}

async function run<T>(connection: SftpConnection, action: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw operationError(error, connection.facts, action);
  }
}

export { run as runOperation };
