import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UploadError } from '../errors.js';

export interface TreeFile {
  /** `/`-separated path relative to the tree's root. */
  path: string;
  size: number;
}

/**
 * Every regular file below `root`, sorted by path. Symbolic links are refused
 * (`UNSAFE_PATH`): a delivery tree is built by the pipeline and never has one.
 */
export async function listTree(root: string, below = ''): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const entries = await readdir(below === '' ? root : join(root, below), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = below === '' ? entry.name : `${below}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listTree(root, path)));
    else if (entry.isFile()) files.push({ path, size: (await lstat(join(root, path))).size });
    else {
      throw new UploadError(
        'UNSAFE_PATH',
        `The delivery folder holds ${JSON.stringify(path)}, which is not a regular file.`,
        {
          stage: 'deliver',
          details: { path },
        },
      );
    }
  }
  return files;
}

/** Hex sha256 of a file, streamed. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, {
    highWaterMark: 1024 * 1024,
    ...(signal ? { signal } : {}),
  })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** True when two trees hold the same paths with the same bytes. */
export async function sameTree(left: string, right: string, signal?: AbortSignal): Promise<boolean> {
  const [a, b] = await Promise.all([listTree(left), listTree(right)]);
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) {
    const x = a[index]!;
    const y = b[index]!;
    if (x.path !== y.path || x.size !== y.size) return false;
  }
  for (const file of a) {
    const [x, y] = await Promise.all([
      sha256File(join(left, file.path), signal),
      sha256File(join(right, file.path), signal),
    ]);
    if (x !== y) return false;
  }
  return true;
}
