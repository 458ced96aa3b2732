// SFTP leg: our streamed upload (beginUpload, pipelined writes from a stream) and fastPut (upload
// from a file) vs OpenSSH's `sftp` put, the same file to the same sshd, interleaved rounds.
// Run alone: npx tsx bench/sftp-leg.mts <file> [rounds]   (CHUNK=bytes per request, default the server's limit up to 256 KiB; CONCURRENCY=64;
// SFTP_CIPHER=aes128-gcm@openssh.com gives OpenSSH the cipher ssh2 negotiates, instead of OpenSSH's default ChaCha20-Poly1305)
// Prints one JSON line per method and round: wall seconds and CPU seconds of the client.
import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSftpDestination } from '../packages/core/src/sftp/index.ts';
import { startSshd } from '../packages/test-kit/src/sshd.ts';
import { type LegTiming, sftpArgs, timeChild, timeHere } from './leg-timing.ts';

const file = process.argv[2] as string;
const rounds = Number(process.argv[3] ?? 2);
const size = (await stat(file)).size;
const server = await startSshd();
const dir = await mkdtemp(join(tmpdir(), 'ncr-sftp-leg-'));
const keyFile = join(dir, 'key');
await writeFile(keyFile, server.privateKey);
await chmod(keyFile, 0o600);
const shape = {
  host: server.host,
  port: server.port,
  username: server.username,
  privateKey: server.privateKey,
  hostFingerprint: server.hostFingerprint,
  ...(process.env.CHUNK ? { chunkSize: Number(process.env.CHUNK) } : {}),
  uploadConcurrency: Number(process.env.CONCURRENCY ?? 64),
};
const destination = createSftpDestination({ ...shape, uploadThread: true });
const mainThread = createSftpDestination({ ...shape, uploadThread: false });
await destination.ping();
await mainThread.ping();

async function timed(method: string, action: () => Promise<LegTiming>) {
  const { seconds, cpu } = await action();
  console.log(JSON.stringify({ method, seconds, cpu, mbps: size / 1048576 / seconds }));
  await rm(join(server.root, 'leg.bin'), { force: true });
}

const batch = join(dir, 'batch');
await writeFile(batch, `put ${file} leg.bin.partial\nrename leg.bin.partial leg.bin\n`);
for (let round = 0; round < rounds; round += 1) {
  for (const [method, target] of [
    ['ours: stream (beginUpload, upload thread)', destination],
    ['ours: stream (beginUpload, main thread)', mainThread],
  ] as const) {
    await timed(method, () =>
      timeHere(async () => {
        const session = await target.beginUpload('leg.bin');
        for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
          await session.write(chunk as Buffer);
        }
        await session.commit({ size, sha256: '' });
      }),
    );
  }
  await timed('ours: fastPut (upload from file)', () =>
    timeHere(() => destination.upload({ kind: 'file', path: file, size, sha256: '' }, 'leg.bin')),
  );
  await timed('OpenSSH sftp put', () => timeChild('sftp', sftpArgs(server, keyFile, batch)));
}
await Promise.all([destination.close(), mainThread.close()]);
await server.stop();
await rm(dir, { recursive: true, force: true });
