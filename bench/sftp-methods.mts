// SFTP upload throughput: fastPut (our destination) vs put(stream) vs OpenSSH sftp -b.
// Run: npx tsx bench/sftp-methods.mts   (SIZE_MB=200 ROUNDS=3 ONLY=fastPut,sftp)
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { createSftpDestination } from '../packages/core/src/sftp/index.ts';
import { startSshd } from '../packages/test-kit/src/sshd.ts';
import { sftpArgs, timeChild } from './leg-timing.ts';

const SIZE = Number(process.env.SIZE_MB ?? 200) * 1024 * 1024;
const MB = SIZE / 1024 / 1024;
const rounds = Number(process.env.ROUNDS ?? 3);
const only = process.env.ONLY?.split(',');

const server = await startSshd();
const dir = await mkdtemp(join(tmpdir(), 'ncr-sftp-bench-'));
const file = join(dir, 'big.bin');
const block = randomBytes(8 * 1024 * 1024);
await writeFile(
  file,
  Buffer.concat(Array.from({ length: SIZE / block.length }, () => randomBytes(block.length))),
);
const keyFile = join(dir, 'key');
await writeFile(keyFile, server.privateKey);
await chmod(keyFile, 0o600);
const connect = {
  host: server.host,
  port: server.port,
  username: server.username,
  privateKey: server.privateKey,
};

/** Whether the ONLY filter keeps the method labelled `label` (or whose label begins so). */
const wanted = (label: string) =>
  !only || only.some((name) => label.startsWith(name) || name.startsWith(label));

async function time(label: string, action: () => Promise<unknown>) {
  if (!wanted(label)) return;
  const results: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const start = process.hrtime.bigint();
    await action();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    results.push(MB / seconds);
    await rm(join(server.root, 'out.bin'), { force: true });
  }
  const sorted = [...results].sort((a, b) => a - b);
  console.log(
    `${label.padEnd(44)} median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(0)} MB/s  (${results.map((r) => r.toFixed(0)).join(', ')})`,
  );
}

for (const [concurrency, chunkSize] of [
  [64, 32768],
  [16, 32768],
  [32, 32768],
  [128, 32768],
  [64, 65536],
  [32, 131072],
] as const) {
  if (!wanted(`fastPut destination c=${concurrency} chunk=${chunkSize / 1024}K`)) continue;
  const destination = createSftpDestination({
    ...connect,
    hostFingerprint: server.hostFingerprint,
    uploadConcurrency: concurrency,
    chunkSize,
  });
  await destination.ping();
  await time(`fastPut destination c=${concurrency} chunk=${chunkSize / 1024}K`, () =>
    destination.upload({ kind: 'file', path: file, size: SIZE, sha256: '' }, 'out.bin'),
  );
  await destination.close();
}

for (const noDelay of [true, false]) {
  // The filter is checked before connecting: a method it leaves out is neither run nor reported.
  if (!wanted(`put(stream) noDelay=${noDelay}`)) continue;
  const client = new SftpClient('bench', { error() {}, end() {}, close() {} });
  let cipher = '';
  (
    client as unknown as { client: { on(e: string, f: (n: { cs: { cipher: string } }) => void): void } }
  ).client.on('handshake', (n) => {
    cipher = n.cs.cipher;
  });
  await client.connect(connect);
  if (noDelay) (client as unknown as { client: { setNoDelay(v: boolean): void } }).client.setNoDelay(true);
  if (!noDelay && process.env.SLOW !== '1') {
    console.log('put(stream) without TCP_NODELAY: skipped (SLOW=1 to run; ~1.7 MB/s)');
    await client.end();
    continue;
  }
  await time(`put(stream) noDelay=${noDelay} [${cipher}]`, () =>
    client.put(createReadStream(file), join(server.root, 'out.bin')),
  );
  await client.end();
}

const batch = join(dir, 'batch');
await writeFile(batch, `put ${file} out.bin\n`);
await time('OpenSSH sftp -b put', () => timeChild('sftp', sftpArgs(server, keyFile, batch)));
await server.stop();
await rm(dir, { recursive: true, force: true });
