// Zip leg: our ZipWriter vs archiver vs Info-ZIP `zip`, on the same files, one after another.
// Run alone: npx tsx bench/zip-leg.mts <folder> [store|auto|deflate]
// Prints one JSON line per method: wall seconds, CPU seconds (user+sys) and output size.
// bench/run.ts times the store-mode leg against zip -0 through bench/legs.ts.
import { createWriteStream } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import { ZipWriter } from '../packages/core/src/zip/zip-writer.ts';
import { type LegTiming, timeChild, timeHere } from './leg-timing.ts';

const folder = process.argv[2] ?? '.';
const mode = (process.argv[3] ?? 'store') as 'store' | 'auto' | 'deflate';
const names = (await readdir(folder)).filter((name) => !name.endsWith('.zip')).sort();
const files = await Promise.all(
  names.map(async (name) => ({
    name,
    path: join(folder, name),
    size: (await stat(join(folder, name))).size,
  })),
);
const out = join(folder, 'leg-out.zip');

async function timed(method: string, action: () => Promise<LegTiming>) {
  await rm(out, { force: true });
  const { seconds, cpu } = await action();
  console.log(JSON.stringify({ method, seconds, cpu, bytes: (await stat(out)).size }));
}

await timed(`ours (${mode})`, () =>
  timeHere(async () => {
    const handle = await open(out, 'w');
    const writer = new ZipWriter(
      async (chunk) => {
        await handle.write(chunk);
      },
      { compression: mode, level: 1 },
    );
    for (const file of files) await writer.addFile(file.name, file.path, file.size);
    await writer.finish();
    await handle.close();
  }),
);

await timed(`archiver (${mode === 'store' ? 'store' : 'level 1'})`, () =>
  timeHere(async () => {
    const zip = new ZipArchive(mode === 'store' ? { store: true } : { zlib: { level: 1 } });
    const done = pipeline(zip, createWriteStream(out));
    for (const file of files) zip.file(file.path, { name: file.name, date: new Date(Date.UTC(2000, 0, 1)) });
    await zip.finalize();
    await done;
  }),
);

// Info-ZIP in its own process: CPU from the child's rusage (GNU time).
await timed(`zip ${mode === 'store' ? '-0' : '-1'}`, () =>
  timeChild('zip', [mode === 'store' ? '-0' : '-1', '-q', out, ...names], folder),
);
await rm(out, { force: true });
