// SFTP leg: our streamed upload (beginUpload, pipelined writes from a stream) and fastPut (upload
// from a file) vs OpenSSH's `sftp` put, the same file to the same sshd, interleaved rounds.
// Run alone: npx tsx bench/sftp-leg.mts <file> [rounds]   (CHUNK=bytes per request, default the server's limit up to 256 KiB; CONCURRENCY=64)
// Prints one JSON line per method and round: wall seconds and CPU seconds of the client.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSftpDestination } from '../packages/core/src/sftp/index.ts';
import { startSshd } from '../packages/test-kit/src/sshd.ts';

const run = promisify(execFile);
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

async function timed(method: string, action: () => Promise<unknown>, childCpu?: () => number) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await action();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  console.log(
    JSON.stringify({
      method,
      seconds,
      cpu: childCpu ? childCpu() : (used.user + used.system) / 1e6,
      mbps: size / 1048576 / seconds,
    }),
  );
  await rm(join(server.root, 'leg.bin'), { force: true });
}

const batch = join(dir, 'batch');
await writeFile(batch, `put ${file} leg.bin.partial\nrename leg.bin.partial leg.bin\n`);
for (let round = 0; round < rounds; round += 1) {
  for (const [method, target] of [
    ['ours: stream (beginUpload, upload thread)', destination],
    ['ours: stream (beginUpload, main thread)', mainThread],
  ] as const) {
    await timed(method, async () => {
      const session = await target.beginUpload('leg.bin');
      for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
        await session.write(chunk as Buffer);
      }
      await session.commit({ size, sha256: '' });
    });
  }
  await timed('ours: fastPut (upload from file)', () =>
    destination.upload({ kind: 'file', path: file, size, sha256: '' }, 'leg.bin'),
  );
  let sftpCpu = 0;
  await timed(
    'OpenSSH sftp put',
    async () => {
      const { stderr } = await run('/usr/bin/time', [
        '-f',
        'NCR_CPU=%U+%S',
        'sftp',
        '-q',
        '-b',
        batch,
        '-i',
        keyFile,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-P',
        String(server.port),
        `${server.username}@127.0.0.1`,
      ]);
      const cpu = /NCR_CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
      sftpCpu = Number(cpu?.[1] ?? 0) + Number(cpu?.[2] ?? 0);
    },
    () => sftpCpu,
  );
}
await Promise.all([destination.close(), mainThread.close()]);
await server.stop();
await rm(dir, { recursive: true, force: true });
