import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'task-';

/** The task's private temp folder `<workDir>/task-<taskId>`. */
export const taskDirPath = (workDir: string, taskId: string) => join(workDir, `${PREFIX}${taskId}`);

/** Create (fresh) the task's private temp folder `<workDir>/task-<taskId>`. */
export async function createTaskDir(workDir: string, taskId: string): Promise<string> {
  const dir = taskDirPath(workDir, taskId);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Step 8: remove the task's temp folder. Never throws. */
export async function removeTaskDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
}

/**
 * Remove `task-*` folders older than `olderThanMs` (left by a crash or kill -9).
 * Only touches names this library creates. Returns how many it removed.
 */
export async function sweepStaleTaskDirs(
  workDir: string,
  olderThanMs: number,
  now = Date.now(),
): Promise<number> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const path = join(workDir, name);
    try {
      const info = await stat(path);
      if (now - info.mtimeMs >= olderThanMs) {
        await rm(path, { recursive: true, force: true });
        removed += 1;
      }
    } catch {
      // Vanished meanwhile: nothing to do.
    }
  }
  return removed;
}
