import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { DeliverySource } from '@ncr-upload/core';
import {
  createSftpDestination,
  type SftpDestination,
  type SftpDestinationOptions,
} from '@ncr-upload/core/sftp';
import { type SshdServer, startSshd } from '@ncr-upload/test-kit/sshd';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** Options that reach `server` with its pinned host key and the test user key. */
export function sftpOptions(
  server: SshdServer,
  extra: Partial<SftpDestinationOptions> = {},
): SftpDestinationOptions {
  return {
    host: server.host,
    port: server.port,
    username: server.username,
    privateKey: server.privateKey,
    hostFingerprint: server.hostFingerprint,
    ...extra,
  };
}

export interface LocalFiles {
  dir: string;
  /** Write a file and describe it as a delivery source. */
  file(name: string, content: Buffer | string): Promise<Extract<DeliverySource, { kind: 'file' }>>;
  cleanup(): Promise<void>;
}

export async function localFiles(): Promise<LocalFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'ncr-sftp-local-'));
  return {
    dir,
    async file(name, content) {
      const path = join(dir, name);
      await mkdir(dirname(path), { recursive: true });
      const bytes = Buffer.from(content);
      await writeFile(path, bytes);
      return { kind: 'file', path, size: bytes.length, sha256: sha256(bytes) };
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function randomContent(size: number): Buffer {
  return randomBytes(size);
}

/** Every file under `root`, relative, `/`-separated, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else found.push(relative(root, path).split('\\').join('/'));
    }
  }
  await walk(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return found.sort();
}

export async function readOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * One sshd and one local folder for a test file; every destination made with
 * `open` or `destination` is closed after each test.
 */
export function useSftpServer() {
  const state = {} as { server: SshdServer; local: LocalFiles };
  const opened: SftpDestination[] = [];
  beforeAll(async () => {
    state.server = await startSshd();
    state.local = await localFiles();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((item) => item.close()));
  });
  afterAll(async () => {
    await state.server?.stop();
    await state.local?.cleanup();
  });
  const open = (options: SftpDestinationOptions): SftpDestination => {
    const created = createSftpDestination(options);
    opened.push(created);
    return created;
  };
  return {
    get server() {
      return state.server;
    },
    get local() {
      return state.local;
    },
    open,
    /** A destination to this server with `extra` options. */
    destination: (extra: Partial<SftpDestinationOptions> = {}) => open(sftpOptions(state.server, extra)),
  };
}
