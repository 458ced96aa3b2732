import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliverySource, Destination } from '../ports/destination.js';
import type { LayoutEntry } from '../ports/file-ref.js';
import { makeJob, randomBytesOf, sha256, uniqueId } from './helpers.js';

export interface DestinationContractOptions {
  /** Shown in the describe block. */
  name: string;
  /** The destination under test, with ways to look at what it holds. Called once for the whole suite. */
  create: () => Promise<{
    destination: Destination;
    /** The bytes at `remotePath` (relative to the destination root), or null when there is no such file. */
    read: (remotePath: string) => Promise<Buffer | null>;
    /** Every file path relative to the destination root, including `*.partial` files. */
    list: () => Promise<string[]>;
    cleanup?: () => Promise<void>;
  }>;
  /**
   * Whether the destination implements the optional streaming upload
   * (`beginUpload`); its tests run only then, and then it must be there.
   * Default true.
   */
  streaming?: boolean;
}

/**
 * The behaviour every `Destination` must have: atomic uploads (`.partial` then
 * rename), nested folders, overwrite, progress, abort and folder delivery.
 * Call it at the top level of a test file.
 */
export function testDestination(options: DestinationContractOptions): void {
  describe(`Destination contract: ${options.name}`, () => {
    let destination: Destination;
    let read: (remotePath: string) => Promise<Buffer | null>;
    let list: () => Promise<string[]>;
    let cleanup: (() => Promise<void>) | undefined;
    let work: string;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'destination-contract-'));
      const created = await options.create();
      ({ destination, read, list, cleanup } = created);
    });

    afterAll(async () => {
      await destination?.close?.();
      await cleanup?.();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const fileSource = async (content: Buffer): Promise<DeliverySource> => {
      const path = join(work, `${uniqueId('source')}.zip`);
      await writeFile(path, content);
      return { kind: 'file', path, size: content.length, sha256: sha256(content) };
    };
    const noPartials = async () =>
      expect((await list()).filter((path) => path.endsWith('.partial'))).toEqual([]);

    it('uploads a file into nested folders with the exact bytes', async () => {
      const content = randomBytesOf(3 * 1024 * 1024 + 17);
      const remotePath = `${uniqueId('campaign')}/deep/er/job.zip`;
      const receipt = await destination.upload(await fileSource(content), remotePath, { job: makeJob() });
      expect(receipt.bytes).toBe(content.length);
      expect(typeof receipt.remote_path).toBe('string');
      const stored = await read(remotePath);
      expect(stored).not.toBeNull();
      expect(sha256(stored!)).toBe(sha256(content));
      expect(await list()).toContain(remotePath);
      await noPartials();
    });

    it('uploads a zero-byte file', async () => {
      const remotePath = `${uniqueId('empty')}/empty.zip`;
      const receipt = await destination.upload(await fileSource(Buffer.alloc(0)), remotePath);
      expect(receipt.bytes).toBe(0);
      expect((await read(remotePath))?.length).toBe(0);
    });

    it('replaces a file uploaded again under the same path, leaving exactly one', async () => {
      const folder = uniqueId('again');
      const remotePath = `${folder}/job.zip`;
      await destination.upload(await fileSource(randomBytesOf(100_000)), remotePath);
      const second = randomBytesOf(70_000);
      await destination.upload(await fileSource(second), remotePath);
      expect(sha256((await read(remotePath))!)).toBe(sha256(second));
      expect((await list()).filter((path) => path.startsWith(`${folder}/`))).toEqual([remotePath]);
    });

    it('reports progress up to the final byte count', async () => {
      const content = randomBytesOf(2 * 1024 * 1024);
      const calls: [number, number][] = [];
      await destination.upload(await fileSource(content), `${uniqueId('progress')}/job.zip`, {
        onProgress: (done, total) => calls.push([done, total]),
      });
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.at(-1)).toEqual([content.length, content.length]);
      for (let index = 1; index < calls.length; index += 1) {
        expect(calls[index]![0]).toBeGreaterThanOrEqual(calls[index - 1]![0]);
      }
    });

    it('rejects an upload whose signal is already aborted and leaves no file', async () => {
      const controller = new AbortController();
      controller.abort();
      const remotePath = `${uniqueId('aborted')}/job.zip`;
      await expect(
        destination.upload(await fileSource(randomBytesOf(1000)), remotePath, { signal: controller.signal }),
      ).rejects.toBeDefined();
      expect(await read(remotePath)).toBeNull();
      expect((await list()).filter((path) => path.startsWith(remotePath))).toEqual([]);
    });

    it('never shows a partial file under the final name when aborted mid-way', async () => {
      const content = randomBytesOf(8 * 1024 * 1024);
      const controller = new AbortController();
      const remotePath = `${uniqueId('mid-abort')}/job.zip`;
      const outcome = await destination
        .upload(await fileSource(content), remotePath, {
          signal: controller.signal,
          onProgress: () => controller.abort(),
        })
        .then(
          () => 'resolved',
          () => 'rejected',
        );
      const stored = await read(remotePath);
      if (outcome === 'rejected') expect(stored).toBeNull();
      else expect(sha256(stored!)).toBe(sha256(content));
      await noPartials();
    });

    const streaming = options.streaming ?? true;
    const begin = (): NonNullable<Destination['beginUpload']> => {
      expect(typeof destination.beginUpload, 'beginUpload (set streaming: false if there is none)').toBe(
        'function',
      );
      return (destination.beginUpload as NonNullable<Destination['beginUpload']>).bind(destination);
    };

    /** Stream `content` through a session in pieces of `piece` bytes. */
    const streamThrough = async (
      remotePath: string,
      content: Buffer,
      piece: number,
      signal?: AbortSignal,
    ) => {
      const session = await begin()(remotePath, {
        ...(signal ? { signal } : {}),
      });
      for (let offset = 0; offset < content.length; offset += piece) {
        await session.write(content.subarray(offset, offset + piece));
      }
      return session;
    };

    it.runIf(streaming)('streams an upload that appears under the final name only on commit', async () => {
      const content = randomBytesOf(5 * 1024 * 1024 + 3);
      const remotePath = `${uniqueId('stream')}/nested/job.zip`;
      const progress: number[] = [];
      const session = await begin()(remotePath, {
        job: makeJob(),
        onProgress: (done) => progress.push(done),
      });
      for (let offset = 0; offset < content.length; offset += 300_000) {
        await session.write(content.subarray(offset, offset + 300_000));
      }
      expect(await read(remotePath)).toBeNull();
      expect(await list()).toContain(`${remotePath}.partial`);
      const receipt = await session.commit({ size: content.length, sha256: sha256(content) });
      expect(receipt.bytes).toBe(content.length);
      expect(sha256((await read(remotePath))!)).toBe(sha256(content));
      expect(progress.at(-1)).toBe(content.length);
      await noPartials();
    });

    it.runIf(streaming)('abort removes the partial file and leaves the final name alone', async () => {
      const folder = uniqueId('stream-abort');
      const remotePath = `${folder}/job.zip`;
      const earlier = randomBytesOf(10_000);
      await destination.upload(await fileSource(earlier), remotePath);
      const session = await streamThrough(remotePath, randomBytesOf(2 * 1024 * 1024), 256 * 1024);
      await session.abort();
      await session.abort();
      expect(sha256((await read(remotePath))!)).toBe(sha256(earlier));
      expect((await list()).filter((path) => path.startsWith(`${folder}/`))).toEqual([remotePath]);
    });

    it.runIf(streaming)('refuses to commit fewer bytes than announced and leaves nothing', async () => {
      const content = randomBytesOf(100_000);
      const remotePath = `${uniqueId('stream-short')}/job.zip`;
      const session = await streamThrough(remotePath, content, 40_000);
      await expect(
        session.commit({ size: content.length + 1, sha256: sha256(content) }),
      ).rejects.toMatchObject({
        code: 'SIZE_MISMATCH',
      });
      expect(await read(remotePath)).toBeNull();
      await noPartials();
    });

    it.runIf(streaming)('an abort signal mid-stream fails the session and leaves nothing', async () => {
      const controller = new AbortController();
      const remotePath = `${uniqueId('stream-signal')}/job.zip`;
      const session = await streamThrough(
        remotePath,
        randomBytesOf(1024 * 1024),
        128 * 1024,
        controller.signal,
      );
      controller.abort();
      await expect(session.write(randomBytesOf(1000))).rejects.toBeDefined();
      await session.abort();
      expect(await read(remotePath)).toBeNull();
      await noPartials();
    });

    it('delivers a folder tree', async () => {
      const root = join(work, uniqueId('tree'));
      const files: Record<string, Buffer> = {
        'a.txt': Buffer.from('first'),
        'images/front.jpg': randomBytesOf(50_000),
        'images/nested/back é.jpg': randomBytesOf(1),
        'docs/empty.pdf': Buffer.alloc(0),
      };
      const entries: LayoutEntry[] = [];
      let size = 0;
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(root, path)), { recursive: true });
        await writeFile(join(root, path), content);
        entries.push({ file: { key: path, size: content.length }, path });
        size += content.length;
      }
      const remotePath = `${uniqueId('folder')}/job`;
      const receipt = await destination.upload({ kind: 'folder', path: root, entries, size }, remotePath);
      expect(receipt.bytes).toBe(size);
      for (const [path, content] of Object.entries(files)) {
        const stored = await read(`${remotePath}/${path}`);
        expect(stored, path).not.toBeNull();
        expect(sha256(stored!), path).toBe(sha256(content));
      }
      const delivered = (await list()).filter((path) => path.startsWith(`${remotePath}/`)).sort();
      expect(delivered).toEqual(
        Object.keys(files)
          .map((path) => `${remotePath}/${path}`)
          .sort(),
      );
    });
  });
}
