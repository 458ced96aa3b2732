// Does fetching one large object as parallel ranged GETs beat one GetObject
// stream? Both deliver the bytes in order into a sha256 (as the archive step
// consumes them). Run from the repository root:
//   npx tsx bench/s3-ranged-get.mjs [sizeMiB=200] [rounds=3]
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createS3Storage } from '../packages/core/src/s3/index.ts';
import { startS3rver } from '../packages/test-kit/src/s3rver.ts';

const sizeMiB = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);
const size = sizeMiB * 1024 * 1024;
const bucket = 'bench-bucket';
const key = 'large.bin';

async function singleStream(storage) {
  const opened = await storage.open({ key });
  const hash = createHash('sha256');
  for await (const chunk of opened.stream) hash.update(chunk);
  return hash.digest('hex');
}

async function ranged(client, partSize, concurrency) {
  const parts = Math.ceil(size / partSize);
  const results = new Map();
  const hash = createHash('sha256');
  let next = 0;
  let emitted = 0;
  let wake;
  const fetchPart = async (index) => {
    const start = index * partSize;
    const end = Math.min(size, start + partSize) - 1;
    const response = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}` }),
    );
    results.set(index, Buffer.from(await response.Body.transformToByteArray()));
    wake?.();
  };
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < parts) {
      const index = next++;
      // Bound memory: do not run more than `concurrency` parts ahead of the consumer.
      while (index - emitted >= concurrency * 2) await new Promise((resolve) => setTimeout(resolve, 1));
      await fetchPart(index);
    }
  });
  const consumer = (async () => {
    while (emitted < parts) {
      const part = results.get(emitted);
      if (!part) {
        await new Promise((resolve) => {
          wake = resolve;
        });
        continue;
      }
      hash.update(part);
      results.delete(emitted);
      emitted += 1;
    }
  })();
  await Promise.all([...workers, consumer]);
  return hash.digest('hex');
}

const s3 = await startS3rver();
const work = await mkdtemp(join(tmpdir(), 'ncr-bench-s3-'));
try {
  await s3.createBucket(bucket);
  const file = join(work, key);
  const expected = createHash('sha256');
  const out = createWriteStream(file);
  for (let written = 0; written < size; written += 4 * 1024 * 1024) {
    const chunk = randomBytes(Math.min(4 * 1024 * 1024, size - written));
    expected.update(chunk);
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  }
  await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())));
  const digest = expected.digest('hex');
  await s3.putObject(bucket, key, createReadStream(file), size);
  await rm(file);

  const client = s3.client();
  const storage = createS3Storage({ client, bucket });
  const variants = {
    'single stream (createS3Storage.open)': () => singleStream(storage),
    'ranged 8 MiB x 4': () => ranged(client, 8 * 1024 * 1024, 4),
    'ranged 8 MiB x 8': () => ranged(client, 8 * 1024 * 1024, 8),
    'ranged 16 MiB x 4': () => ranged(client, 16 * 1024 * 1024, 4),
  };
  const timings = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  await singleStream(storage); // warm the page cache
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, run] of Object.entries(variants)) {
      const started = process.hrtime.bigint();
      const result = await run();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (result !== digest) throw new Error(`${name}: sha256 differs`);
      timings[name].push(sizeMiB / seconds);
    }
  }
  console.log(`object ${sizeMiB} MiB, ${rounds} rounds, MiB/s (median, min-max), sha256 checked`);
  for (const [name, values] of Object.entries(timings)) {
    const sorted = [...values].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(
      `${name.padEnd(40)} ${median.toFixed(0).padStart(5)}  (${sorted[0].toFixed(0)}-${sorted.at(-1).toFixed(0)})`,
    );
  }
} finally {
  await s3.stop();
  await rm(work, { recursive: true, force: true });
}
