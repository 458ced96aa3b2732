import { closeSync, constants, fsync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { UploadError } from '../errors.js';
import { errnoOf } from './fs-errors.js';
import { realPathOfOpen } from './real-path.js';

const fsyncAsync = promisify(fsync);

/** A delivery folder opened and checked: its descriptor (the caller closes it) and its real path. */
export interface OpenFolder {
  fd: number;
  /** The folder's real path (links resolved): deliveries into one folder share its fsyncs by it. */
  real: string;
}

/** The folders a folder destination delivers into: opened and checked, and fsynced after a rename. */
export interface DeliveryFolders {
  /**
   * Open `folder` (below the root; made when missing) and check that it is,
   * through any links, inside the root. Returns the open folder's descriptor,
   * which the caller closes. Missing folders are made one at a time, each
   * checked before the next is made, so a link that leads outside never gets
   * a folder made behind it.
   */
  open(folder: string, remotePath: string): OpenFolder;
  /**
   * fsync the open folder so a rename in it survives a crash. Deliveries
   * into the same folder (same real path) at the same time share one fsync
   * when they can: a caller joins an fsync that has not started yet (it
   * starts after the caller's rename, so it covers it), else queues the next
   * one.
   */
  sync(folder: OpenFolder): Promise<void>;
}

interface SyncState {
  /** The fsync that has not started yet: joining it covers the caller's rename. */
  waiting?: Promise<void>;
  /** The fsync under way (settled quietly), which the waiting one follows. */
  running?: Promise<void>;
}

function outside(remotePath: string): UploadError {
  return new UploadError(
    'UNSAFE_PATH',
    `Delivery path ${JSON.stringify(remotePath)} leads outside the destination folder through a link.`,
    { stage: 'deliver', details: { path: remotePath } },
  );
}

/**
 * The delivery folders of the destination rooted at `root` (an absolute
 * path). Synchronous calls: each is a metadata operation on a local folder,
 * cheaper than a thread-pool round trip; only the fsync runs on the pool.
 */
export function deliveryFolders(root: string): DeliveryFolders {
  /** The root's real path, read once (the root itself may be a link; links below it are checked each time). */
  let realRoot: string | undefined;
  const syncs = new Map<string, SyncState>();

  function isInside(real: string): boolean {
    realRoot ??= realpathSync.native(root);
    const rel = relative(realRoot, real);
    return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
  }

  function openChecked(folder: string, remotePath: string): OpenFolder {
    const fd = openSync(folder, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    try {
      const real = realPathOfOpen(fd) ?? realpathSync.native(folder);
      if (!isInside(real)) throw outside(remotePath);
      return { fd, real };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Make `folder` below the root one level at a time; a level that leads outside stops it before the next. */
  function make(folder: string, remotePath: string): void {
    mkdirSync(root, { recursive: true });
    const rel = relative(root, folder);
    let path = root;
    for (const part of rel === '' ? [] : rel.split(sep)) {
      path = join(path, part);
      try {
        mkdirSync(path);
      } catch (error) {
        if (errnoOf(error) !== 'EEXIST') throw error;
      }
      if (!isInside(realpathSync.native(path))) throw outside(remotePath);
    }
  }

  function open(folder: string, remotePath: string): OpenFolder {
    try {
      return openChecked(folder, remotePath);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
      make(folder, remotePath);
      return openChecked(folder, remotePath);
    }
  }

  function sync({ fd, real: key }: OpenFolder): Promise<void> {
    let state = syncs.get(key);
    if (!state) {
      state = {};
      syncs.set(key, state);
    }
    if (state.waiting) return state.waiting;
    const current = state;
    const waiting = (current.running ?? Promise.resolve()).then(() => {
      // Starting now: a rename after this point needs the next fsync.
      if (current.waiting === waiting) current.waiting = undefined;
      const run = fsyncAsync(fd);
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      current.running = settled;
      void settled.then(() => {
        if (current.running === settled && !current.waiting) syncs.delete(key);
      });
      return run;
    });
    current.waiting = waiting;
    return waiting;
  }

  return { open, sync };
}
