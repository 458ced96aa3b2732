import { readlinkSync } from 'node:fs';

/** Linux names every open file in /proc: one call, for exactly the file that was opened. */
const PROC_FD = process.platform === 'linux' ? '/proc/self/fd/' : null;

/**
 * The real path of the file or folder open as `fd` (links resolved), read
 * from /proc/self/fd on Linux: one system call instead of realpath's walk over
 * every folder of the path, and no window between the check and the open.
 * Undefined elsewhere (or for a file deleted since): the caller asks realpath.
 */
export function realPathOfOpen(fd: number): string | undefined {
  if (!PROC_FD) return undefined;
  try {
    const real = readlinkSync(`${PROC_FD}${fd}`);
    return real.startsWith('/') && !real.endsWith(' (deleted)') ? real : undefined;
  } catch {
    return undefined;
  }
}
