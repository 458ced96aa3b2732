import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipWriter, type ZipWriterOptions } from '../src/zip/zip-writer.js';
import { sha256OfFile } from './support/zip.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncr-zip-ahead-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** CSV-like text that differs from file to file. */
async function textFile(name: string, rows: number, seed: number): Promise<string> {
  const lines: string[] = [];
  for (let row = 0; row < rows; row += 1) {
    lines.push(
      `${row},user-${(row * seed) % 9973},${(row * 7919 + seed) % 100000}.${row % 100},2026-12-0${row % 9}\n`,
    );
  }
  const path = join(dir, name);
  await writeFile(path, lines.join(''));
  return path;
}

function writerTo(out: string, options: ZipWriterOptions) {
  const stream = createWriteStream(out);
  const writer = new ZipWriter(async (chunk) => {
    await new Promise<void>((resolve, reject) =>
      stream.write(chunk, (error) => (error ? reject(error) : resolve())),
    );
  }, options);
  const close = () => new Promise<void>((resolve) => stream.end(resolve));
  return { writer, close };
}

const openFiles = async () => (await readdir('/proc/self/fd')).length;

describe('ZipWriter: a file deflated ahead of its turn', () => {
  it('reads a prepared file before its turn, pauses at aheadBytes, and gives the same bytes as one file at a time', async () => {
    const files = await Promise.all(
      [0, 1, 2, 3].map((index) => textFile(`ahead-${index}.csv`, 30_000 + index * 5_000, index + 3)),
    );
    const sizes = await Promise.all(files.map(async (path) => (await stat(path)).size));

    const sequentialOut = join(dir, 'sequential.zip');
    const sequential = writerTo(sequentialOut, { compression: 'deflate', aheadBytes: 0 });
    for (const [index, path] of files.entries()) {
      sequential.writer.prepareFile(`job/${index}.csv`, path, sizes[index] as number);
      await sequential.writer.addFile(`job/${index}.csv`, path, sizes[index] as number);
    }
    await sequential.writer.finish();
    await sequential.close();

    // A prepared file is read before it is added, and pauses at aheadBytes of output.
    let read = 0;
    const aheadOut = join(dir, 'ahead.zip');
    const ahead = writerTo(aheadOut, {
      compression: 'deflate',
      aheadBytes: 32 * 1024,
      readSize: 64 * 1024,
      onFileBytes: (bytes) => {
        read += bytes;
      },
    });
    ahead.writer.prepareFile('job/0.csv', files[0] as string, sizes[0] as number);
    for (let attempt = 0; attempt < 100 && read === 0; attempt += 1)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(read).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(read).toBeLessThan(sizes[0] as number);
    for (const [index, path] of files.entries()) {
      const adding = ahead.writer.addFile(`job/${index}.csv`, path, sizes[index] as number);
      const next = files[index + 1];
      if (next) ahead.writer.prepareFile(`job/${index + 1}.csv`, next, sizes[index + 1] as number);
      await adding;
    }
    const summary = await ahead.writer.finish();
    await ahead.close();

    expect(read).toBe(sizes.reduce((sum, size) => sum + size, 0));
    expect(summary.sha256).toBe(await sha256OfFile(aheadOut));
    expect(await sha256OfFile(aheadOut)).toBe(await sha256OfFile(sequentialOut));
    await run('unzip', ['-tq', aheadOut]);
  });

  it('a file prepared under a deflated name but added under a stored one is stored', async () => {
    const path = await textFile('renamed.csv', 20_000, 5);
    const size = (await stat(path)).size;
    const out = join(dir, 'renamed.zip');
    const zip = writerTo(out, { compression: 'auto' });
    zip.writer.prepareFile('job/data.csv', path, size);
    await zip.writer.addFile('job/data.gz', path, size);
    await zip.writer.finish();
    await zip.close();
    const { stdout } = await run('unzip', ['-v', out]);
    expect(stdout).toMatch(/Stored\s.*job\/data\.gz/);
    await run('unzip', ['-tq', out]);
  });

  it('a prepared file that cannot be read fails its add; discard stops a prepared file that is never added', async () => {
    const before = await openFiles();
    const missing = writerTo(join(dir, 'missing.zip'), { compression: 'deflate' });
    missing.writer.prepareFile('gone.csv', join(dir, 'gone.csv'), 200_000);
    await expect(missing.writer.addFile('gone.csv', join(dir, 'gone.csv'), 200_000)).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await missing.close();

    const path = await textFile('never.csv', 40_000, 7);
    const abandoned = writerTo(join(dir, 'abandoned.zip'), { compression: 'deflate', aheadBytes: 16 * 1024 });
    abandoned.writer.prepareFile('never.csv', path, (await stat(path)).size);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await openFiles()).toBeGreaterThan(before);
    abandoned.writer.discard();
    await expect(abandoned.writer.addFile('never.csv', path, 1)).rejects.toThrow(/already finished/);
    await abandoned.close();
    for (let attempt = 0; attempt < 50 && (await openFiles()) > before; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await openFiles()).toBe(before);
  });
});
