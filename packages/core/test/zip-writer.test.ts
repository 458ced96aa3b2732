import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { createBuiltinValidator } from '@ncr-upload/core/fs';
import { makeJob, randomBytesOf, sha256 } from '@ncr-upload/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { crc32Fallback } from '../src/zip/crc32.js';
import { planStoredZip, sha256Of } from '../src/zip/zip-in-place.js';
import { isCompressedType, ZipWriter, type ZipWriterOptions } from '../src/zip/zip-writer.js';
import { readZip, sha256OfFile } from './support/zip.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncr-zip-writer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Zip `files` (entry name → local path) into `out` with the writer; returns its summary. */
async function zipTo(out: string, files: [string, string, number?][], options: ZipWriterOptions) {
  const stream = createWriteStream(out);
  const writer = new ZipWriter(
    (chunk) =>
      new Promise<void>((resolve, reject) =>
        stream.write(chunk, (error) => (error ? reject(error) : resolve())),
      ),
    options,
  );
  for (const [name, path, known] of files) {
    await writer.addFile(name, path, known ?? (await stat(path)).size);
  }
  const summary = await writer.finish();
  await new Promise<void>((resolve) => stream.end(resolve));
  return summary;
}

async function source(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe('ZipWriter', () => {
  it('writes store, deflate and auto zips that unzip -t and the zip reader accept', async () => {
    const text = Buffer.from('id;name;amount\n'.concat('42;"Zoë";3.14\n'.repeat(20_000)));
    const media = randomBytesOf(700_000);
    const files: [string, string][] = [
      ['job/data.csv', await source('data.csv', text)],
      ['job/photo é.jpg', await source('photo.jpg', media)],
      ['job/empty.txt', await source('empty.txt', Buffer.alloc(0))],
    ];
    const sizes: Record<string, number> = {};
    for (const compression of ['store', 'deflate', 'auto'] as const) {
      const out = join(dir, `${compression}.zip`);
      const summary = await zipTo(out, files, { compression, level: 6 });
      sizes[compression] = summary.size;
      expect(summary.entries).toBe(3);
      expect(summary.sha256).toBe(await sha256OfFile(out));
      await run('unzip', ['-tq', out]);
      const entries = await readZip(out);
      expect(sha256(entries.get('job/data.csv') as Buffer)).toBe(sha256(text));
      expect(sha256(entries.get('job/photo é.jpg') as Buffer)).toBe(sha256(media));
      expect(entries.get('job/empty.txt')?.length).toBe(0);
      const verdict = await createBuiltinValidator().validate(
        { path: out, size: summary.size, sha256: summary.sha256, entries: [] },
        makeJob(),
      );
      expect(verdict).toMatchObject({ valid: true, errors: [] });
    }
    // auto deflates the CSV like deflate does and stores the jpg like store does.
    expect(sizes.auto).toBeLessThan((sizes.store as number) - text.length / 2);
    expect(sizes.auto).toBeGreaterThan(media.length);
    const { stdout } = await run('unzip', ['-v', join(dir, 'auto.zip')]);
    expect(stdout).toMatch(/Defl:N.*data\.csv/);
    expect(stdout).toMatch(/Stored.*photo/);
  });

  it('gives the same bytes for the same files', async () => {
    const files: [string, string][] = [['a.bin', await source('same.bin', randomBytesOf(100_000))]];
    const first = await zipTo(join(dir, 'same-1.zip'), files, { compression: 'store' });
    const second = await zipTo(join(dir, 'same-2.zip'), files, { compression: 'store' });
    expect(second.sha256).toBe(first.sha256);
  });

  it('switches to zip64 end records past 65535 entries', async () => {
    const tiny = await source('tiny.txt', Buffer.from('x'));
    const count = 65_540;
    const files = Array.from(
      { length: count },
      (_, index) => [`f/${index}.txt`, tiny, 1] as [string, string, number],
    );
    const out = join(dir, 'many.zip');
    const summary = await zipTo(out, files, { compression: 'store' });
    expect(summary.entries).toBe(count);
    await run('unzip', ['-tq', out], { maxBuffer: 64 * 1024 * 1024 });
    const names = await new Promise<number>((resolve, reject) => {
      yauzl.open(out, { lazyEntries: false }, (error, zip) => {
        if (error || !zip) return reject(error);
        let seen = 0;
        zip.on('entry', () => {
          seen += 1;
        });
        zip.on('end', () => resolve(seen));
        zip.on('error', reject);
      });
    });
    expect(names).toBe(count);
  }, 300_000);

  it('writes zip64 sizes and offsets for an entry past 4 GiB', async () => {
    // A sparse file of zeros; the zip's middle is never kept: only its head and tail are.
    const big = join(dir, 'big.bin');
    const bigSize = 2 ** 32 + 4096;
    await writeFile(big, '');
    await truncate(big, bigSize);
    const small = await source('after.txt', Buffer.from('after the big one'));
    const head: Buffer[] = [];
    let tail: Buffer = Buffer.alloc(0);
    let total = 0;
    const writer = new ZipWriter(
      (chunk) => {
        if (total < 4096) head.push(chunk.subarray(0, 4096));
        total += chunk.length;
        tail = chunk.length >= 4096 ? chunk.subarray(-4096) : Buffer.concat([tail, chunk]).subarray(-4096);
      },
      { compression: 'store', readSize: 4 * 1024 * 1024 },
    );
    await writer.addFile('big.bin', big, bigSize);
    await writer.addFile('after.txt', small, 17);
    const summary = await writer.finish();
    expect(summary.size).toBe(total);
    const first = Buffer.concat(head);
    const last = tail;
    // A reader over the kept head and tail; everything between is the big file's zeros.
    class Reader extends yauzl.RandomAccessReader {
      override _readStreamForRange(start: number, end: number) {
        const out = Buffer.alloc(end - start);
        for (let at = start; at < end; at += 1) {
          if (at < first.length) out[at - start] = first[at] as number;
          else if (at >= total - last.length) out[at - start] = last[at - (total - last.length)] as number;
        }
        return Readable.from([out]);
      }
    }
    const entries = await new Promise<yauzl.Entry[]>((resolve, reject) => {
      yauzl.fromRandomAccessReader(new Reader(), total, { lazyEntries: false }, (error, zip) => {
        if (error || !zip) return reject(error);
        const seen: yauzl.Entry[] = [];
        zip.on('entry', (entry: yauzl.Entry) => seen.push(entry));
        zip.on('end', () => resolve(seen));
        zip.on('error', reject);
      });
    });
    expect(entries.map((entry) => [entry.fileName, entry.uncompressedSize])).toEqual([
      ['big.bin', bigSize],
      ['after.txt', 17],
    ]);
    const after = entries[1] as yauzl.Entry;
    // The second entry starts past 4 GiB: its offset came from the zip64 extra field.
    expect(after.relativeOffsetOfLocalHeader).toBeGreaterThan(2 ** 32);
    expect(after.crc32).toBe(zlib.crc32('after the big one'));
  }, 300_000);
});

describe('planStoredZip (a stored zip built in one buffer)', () => {
  it('gives the same bytes as the streaming writer in store mode', async () => {
    const files: [string, Buffer][] = [
      ['job/a/one.bin', randomBytesOf(65_536)],
      ['job/empty.txt', Buffer.alloc(0)],
      ['job/ünïcødé 文件.txt', Buffer.from('unicode ✓\n')],
      ['job/b/two.bin', randomBytesOf(100_001)],
    ];
    const chunks: Buffer[] = [];
    const writer = new ZipWriter((chunk) => void chunks.push(chunk), { compression: 'store' });
    for (const [name, bytes] of files) await writer.addBuffer(name, bytes);
    const summary = await writer.finish();
    const streamed = Buffer.concat(chunks);

    const plan = planStoredZip(files.map(([name, bytes]) => ({ name, size: bytes.length })));
    expect(plan).toBeDefined();
    const slots = plan?.slots ?? [];
    expect(slots.map((slot) => slot.length)).toEqual(files.map(([, bytes]) => bytes.length));
    for (const [index, [, bytes]] of files.entries()) bytes.copy(slots[index] as Buffer);
    const built = plan?.seal() as Buffer;
    expect(built.length).toBe(summary.size);
    expect(built.equals(streamed)).toBe(true);
    expect(sha256Of(built)).toBe(summary.sha256);
    expect(() => plan?.seal()).toThrow(/sealed/);
    // And the validator accepts it (every entry's CRC-32 checked).
    const verdict = await createBuiltinValidator().validateBuffer?.(
      { data: built, size: built.length, sha256: summary.sha256, entries: [] },
      makeJob(),
    );
    expect(verdict?.valid).toBe(true);
  });

  it('leaves zips that need zip64 to the streaming writer', () => {
    expect(planStoredZip(Array.from({ length: 65_535 }, (_, index) => ({ name: `${index}`, size: 0 })))).toBe(
      undefined,
    );
    expect(planStoredZip([{ name: 'big.bin', size: 0xffffffff }])).toBe(undefined);
    expect(planStoredZip([{ name: 'x'.repeat(65_536), size: 1 }])).toBe(undefined);
  });
});

describe('crc32', () => {
  it('the fallback agrees with zlib.crc32, also when continued', () => {
    const bytes = randomBytesOf(100_003);
    expect(crc32Fallback(bytes)).toBe(zlib.crc32(bytes));
    const split = crc32Fallback(bytes.subarray(50_000), crc32Fallback(bytes.subarray(0, 50_000)));
    expect(split).toBe(zlib.crc32(bytes));
  });

  it('auto mode knows already-compressed types', () => {
    expect(['a.JPG', 'x/b.pdf', 'c.tar.gz', 'd.mp4'].every(isCompressedType)).toBe(true);
    expect(['a.csv', 'b.txt', 'c', '.jpg'].some(isCompressedType)).toBe(false);
  });
});
