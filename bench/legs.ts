/**
 * The legs of a big job, each on its own against its reference, on the same
 * files and servers (used by bench/run.ts `--legs`; bench/zip-leg.mts and
 * bench/sftp-leg.mts are the stand-alone variants):
 *
 * - S3 read: our storage's `open()` drained vs a plain SDK `GetObject` drain;
 * - zip: our store-mode writer (CRC-32 and sha256 while writing) vs `zip -0`;
 * - SFTP: our streamed upload (`beginUpload`) vs OpenSSH `sftp` put.
 *
 * Methods run one after another in each round (ours first in odd rounds,
 * the reference first in even ones), so both see the same moment of a busy
 * machine. Reports wall and CPU seconds; a child's CPU comes from GNU time.
 */
import { createReadStream } from 'node:fs';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Storage, s3ClientOptionsForCompatible } from '@ncr-upload/core/s3';
import { createSftpDestination } from '@ncr-upload/core/sftp';
import { ZipWriter } from '../packages/core/src/zip/zip-writer.js';
import { type LegTiming, sftpArgs, timeChild, timeHere } from './leg-timing.js';

export interface LegSetup {
  s3: { endpoint: string; bucket: string; prefix: string; keys: string[] };
  sshd: {
    host: string;
    port: number;
    username: string;
    privateKey: string;
    hostFingerprint: string;
    root: string;
  };
  keyFile: string;
  /** Folder holding the job's files (the same as the objects' contents). */
  source: string;
  names: string[];
  /** Scratch folder for the legs' zip. */
  work: string;
  rounds: number;
}

export interface LegResult {
  leg: string;
  ours: LegTiming[];
  reference: LegTiming[];
  referenceName: string;
}

async function drainAll(keys: string[], concurrency: number, drainOne: (key: string) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) await drainOne(keys[next++] as string);
    }),
  );
}

/** Run `ours` and `reference` `rounds` times, alternating which goes first. */
async function interleave(
  rounds: number,
  ours: () => Promise<LegTiming>,
  reference: () => Promise<LegTiming>,
): Promise<{ ours: LegTiming[]; reference: LegTiming[] }> {
  const result = { ours: [] as LegTiming[], reference: [] as LegTiming[] };
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      result.ours.push(await ours());
      result.reference.push(await reference());
    } else {
      result.reference.push(await reference());
      result.ours.push(await ours());
    }
  }
  return result;
}

export async function runLegs(setup: LegSetup): Promise<LegResult[]> {
  const results: LegResult[] = [];
  const clientOptions = s3ClientOptionsForCompatible({
    endpoint: setup.s3.endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  });
  const client = new S3Client(clientOptions);
  const storage = createS3Storage({ client, bucket: setup.s3.bucket });
  try {
    const drain = async (stream: NodeJS.ReadableStream) => {
      for await (const _chunk of stream);
    };
    const ours = async (key: string) => {
      const opened = await storage.open({ key, name: key });
      await drain(opened.stream);
    };
    const sdk = async (key: string) => {
      const response = await client.send(new GetObjectCommand({ Bucket: setup.s3.bucket, Key: key }));
      await drain(response.Body as NodeJS.ReadableStream);
    };
    // Untimed warm-up (connections, first-request code paths) for both.
    const first = setup.s3.keys.slice(0, 1);
    await drainAll(first, 1, ours);
    await drainAll(first, 1, sdk);
    const s3 = await interleave(
      setup.rounds,
      () => timeHere(() => drainAll(setup.s3.keys, 4, ours)),
      () => timeHere(() => drainAll(setup.s3.keys, 4, sdk)),
    );
    results.push({ leg: 'S3 read (4 at once)', ...s3, referenceName: 'SDK GetObject drain' });
  } finally {
    client.destroy();
  }

  const zipFile = join(setup.work, 'leg.zip');
  const zipOurs = () =>
    timeHere(async () => {
      await rm(zipFile, { force: true });
      const handle = await open(zipFile, 'w');
      const writer = new ZipWriter(
        async (chunk) => {
          await handle.write(chunk);
        },
        { compression: 'store' },
      );
      for (const name of setup.names) {
        const path = join(setup.source, name);
        await writer.addFile(name, path, (await stat(path)).size);
      }
      await writer.finish();
      await handle.close();
    });
  const zipReference = async () => {
    await rm(zipFile, { force: true });
    return timeChild('zip', ['-0', '-q', zipFile, ...setup.names], setup.source);
  };
  results.push({
    leg: 'zip, store',
    ...(await interleave(setup.rounds, zipOurs, zipReference)),
    referenceName: 'zip -0',
  });

  // The SFTP leg uploads the zip just written (ours).
  await zipOurs();
  const size = (await stat(zipFile)).size;
  const destination = createSftpDestination({
    host: setup.sshd.host,
    port: setup.sshd.port,
    username: setup.sshd.username,
    privateKey: setup.sshd.privateKey,
    hostFingerprint: setup.sshd.hostFingerprint,
  });
  const batch = join(setup.work, 'leg-batch');
  await writeFile(batch, `put ${zipFile} leg.zip.partial\nrename leg.zip.partial leg.zip\n`);
  const remote = join(setup.sshd.root, 'leg.zip');
  try {
    await destination.ping();
    const sftp = await interleave(
      setup.rounds,
      async () => {
        await rm(remote, { force: true });
        return timeHere(async () => {
          const session = await destination.beginUpload('leg.zip');
          for await (const chunk of createReadStream(zipFile, { highWaterMark: 1024 * 1024 })) {
            await session.write(chunk as Buffer);
          }
          await session.commit({ size, sha256: '' });
        });
      },
      async () => {
        await rm(remote, { force: true });
        return timeChild('sftp', sftpArgs(setup.sshd, setup.keyFile, batch));
      },
    );
    results.push({ leg: 'SFTP upload, stream', ...sftp, referenceName: 'OpenSSH sftp put' });
  } finally {
    await destination.close();
    await rm(remote, { force: true });
    await rm(zipFile, { force: true });
  }
  return results;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/**
 * Table rows: per leg, each round's wall seconds, the median time ratio
 * (ours / reference: below 1 is faster) and the speed as a multiple of the
 * reference's (the targets' form: ≥ 1.0× means at least as fast), and CPU.
 */
export function legRows(sizeMb: number, results: LegResult[]): string[][] {
  return results.map((result) => {
    const ratios = result.ours.map(
      (ours, index) => ours.seconds / (result.reference[index] as LegTiming).seconds,
    );
    const ratio = median(ratios);
    const seconds = (timings: LegTiming[]) => timings.map((timing) => timing.seconds.toFixed(2)).join(' / ');
    const cpu = (timings: LegTiming[]) => median(timings.map((timing) => timing.cpu)).toFixed(2);
    return [
      `${sizeMb} MB`,
      result.leg,
      `${seconds(result.ours)} s`,
      `${result.referenceName}: ${seconds(result.reference)} s`,
      `${ratio.toFixed(2)} (speed ${(1 / ratio).toFixed(2)}×; rounds ${ratios.map((value) => value.toFixed(2)).join(', ')})`,
      `${cpu(result.ours)} s / ${cpu(result.reference)} s`,
    ];
  });
}
