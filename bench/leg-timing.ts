/**
 * Timing helpers shared by the leg benches (bench/legs.ts, bench/zip-leg.mts,
 * bench/sftp-leg.mts, bench/sftp-methods.mts): wall and CPU seconds of an
 * action in this process or of a command under GNU time, and OpenSSH `sftp`'s
 * arguments for the test sshd.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LegTiming {
  seconds: number;
  cpu: number;
}

/** Time an action of this process: wall and this process's CPU (user + system). */
export async function timeHere(action: () => Promise<unknown>): Promise<LegTiming> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await action();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { seconds, cpu: (used.user + used.system) / 1e6 };
}

/** Time a command under GNU time: wall and the child's CPU. */
export async function timeChild(command: string, args: string[], cwd?: string): Promise<LegTiming> {
  const started = performance.now();
  const { stderr } = await run('/usr/bin/time', ['-f', 'NCR_CPU=%U+%S', command, ...args], {
    ...(cwd ? { cwd } : {}),
    maxBuffer: 16 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = /NCR_CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
  return { seconds, cpu: Number(cpu?.[1] ?? 0) + Number(cpu?.[2] ?? 0) };
}

/**
 * OpenSSH `sftp -b` with a throwaway known-hosts file, as the bench's user,
 * with OpenSSH's own cipher choice (ChaCha20-Poly1305; ssh2, ours, picks
 * AES-128-GCM), or `SFTP_CIPHER` (e.g. `aes128-gcm@openssh.com`) to compare
 * the same cipher.
 */
export function sftpArgs(sshd: { port: number; username: string }, keyFile: string, batch: string): string[] {
  return [
    '-q',
    '-b',
    batch,
    '-i',
    keyFile,
    '-P',
    String(sshd.port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    ...(process.env.SFTP_CIPHER ? ['-c', process.env.SFTP_CIPHER] : []),
    `${sshd.username}@127.0.0.1`,
  ];
}
