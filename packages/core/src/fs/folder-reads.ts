import { type Dirent, opendirSync, type Stats, statSync } from 'node:fs';

/** Folders with at most this many entries are sized with synchronous stat calls when listed. */
export const SYNC_STAT_ENTRIES = 64;

export type ReadAt = (buffer: Buffer, offset: number, length: number, position: number) => number;

/** Read from file position `position` into all of `buffer` or up to the file's end; the bytes read. */
export function fill(buffer: Buffer, readAt: ReadAt, position = 0): number {
  let read = 0;
  while (read < buffer.length) {
    const got = readAt(buffer, read, buffer.length - read, position + read);
    if (got === 0) break;
    read += got;
  }
  return read;
}

/** `fill` with reads through the thread pool. */
export async function fillAsync(
  buffer: Buffer,
  readAt: (...args: Parameters<ReadAt>) => Promise<number>,
  position = 0,
): Promise<number> {
  let read = 0;
  while (read < buffer.length) {
    const got = await readAt(buffer, read, buffer.length - read, position + read);
    if (got === 0) break;
    read += got;
  }
  return read;
}

/** `statSync`, undefined for a file that vanished or cannot be read (as the async listing does). */
export function statQuietly(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * A folder's entries. The first SYNC_STAT_ENTRIES are read with synchronous
 * calls (a job's folder usually holds a few files: one `getdents` instead of
 * a thread-pool round trip); a larger folder's rest is read asynchronously,
 * so a huge folder never blocks the event loop for long.
 */
export async function readFolder(path: string): Promise<Dirent<Buffer>[]> {
  // Names as bytes (checked for UTF-8 by the caller); Node's types list only string encodings here.
  const folder = opendirSync(path, { encoding: 'buffer' as BufferEncoding, bufferSize: SYNC_STAT_ENTRIES });
  const entries: Dirent<Buffer>[] = [];
  try {
    for (let count = 0; count <= SYNC_STAT_ENTRIES; count += 1) {
      const entry = folder.readSync() as Dirent<Buffer> | null;
      if (!entry) return entries;
      entries.push(entry);
    }
    for (;;) {
      const entry = (await folder.read()) as Dirent<Buffer> | null;
      if (!entry) return entries;
      entries.push(entry);
    }
  } finally {
    folder.closeSync();
  }
}
