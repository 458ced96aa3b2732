import { readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { startFaultProxy } from '@ncr-upload/test-kit/fault-proxy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, randomContent, useSftpServer } from './sftp-helpers.js';

const sftp = useSftpServer();
const destination = sftp.destination;

/** This process's descriptors: sockets, and those open on `path`. */

function openFds(path: string): { sockets: number; onFile: number } {
  let sockets = 0;
  let onFile = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target.startsWith('socket:')) sockets += 1;
    if (target === path) onFile += 1;
  }
  return { sockets, onFile };
}

describe('sftp destination: pool under pressure', () => {
  it('an aborted upload settles at once even when a waiting upload takes its freed slot', async () => {
    const target = destination({ remoteDir: 'contended', pool: { max: 1 } });
    const first = await sftp.local.file('contended-a.bin', randomContent(32 * 1024 * 1024));
    const second = await sftp.local.file('contended-b.bin', randomContent(128 * 1024 * 1024));
    const controller = new AbortController();
    const events: string[] = [];
    const aborted = target
      .upload(first, 'a.bin', {
        signal: controller.signal,
        onProgress: (done) => {
          if (done > 2 * 1024 * 1024 && !controller.signal.aborted) {
            expect(target.stats().waiting).toBe(1);
            controller.abort();
          }
        },
      })
      .then(
        () => events.push('a resolved'),
        (error: unknown) => events.push(`a rejected ${(error as { code?: string }).code}`),
      );
    const waiting = target.upload(second, 'b.bin').then(() => events.push('b done'));
    await Promise.all([aborted, waiting]);
    // Before the fix, the aborted upload queued behind "b" to remove its .partial.
    expect(events).toEqual(['a rejected CANCELLED', 'b done']);
    expect(target.stats()).toMatchObject({ busy: 0, waiting: 0 });
    expect(await listFiles(join(sftp.server.root, 'contended'))).toContain('b.bin');
  });

  it('uploads over more connections than the pool holds, aborted at every phase, leak no descriptors', async () => {
    const target = destination({ remoteDir: 'leaks', pool: { max: 2 } });
    const source = await sftp.local.file('leak.bin', randomContent(8 * 1024 * 1024));
    // Warm up: the first connection loads modules and opens the pool.
    await target.upload(source, 'warm.bin');
    await target.close();
    const before = openFds(source.path);
    const settled = () => {
      const now = openFds(source.path);
      return now.sockets <= before.sockets && now.onFile === 0;
    };
    for (let round = 0; round < 4; round += 1) {
      const again = destination({ remoteDir: 'leaks', pool: { max: 2 } });
      const attempts = Array.from({ length: 6 }, (_, index) => {
        const controller = new AbortController();
        if (index % 3 === 0) queueMicrotask(() => controller.abort());
        return again
          .upload(source, `leak-${index}.bin`, {
            signal: controller.signal,
            onProgress: (done) => {
              if (index % 3 === 1 && done > 1024 * 1024) controller.abort();
            },
          })
          .catch((error: unknown) => error);
      });
      await Promise.all(attempts);
      await again.close();
      expect(again.stats()).toMatchObject({ open: 0, busy: 0, waiting: 0 });
    }
    // Sockets close asynchronously after destroy(), later on a loaded machine: wait up to 15 s.
    for (let tries = 0; tries < 750 && !settled(); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const after = openFds(source.path);
    expect(after.onFile).toBe(0);
    expect(after.sockets).toBeLessThanOrEqual(before.sockets);
  });
});

describe('sftp destination: close() under load', () => {
  it('fails the running and the waiting uploads, and ends with no connection open', async () => {
    const target = destination({ remoteDir: 'closing', pool: { max: 1 } });
    const big = await sftp.local.file('closing-big.bin', randomContent(64 * 1024 * 1024));
    let closing: Promise<void> | undefined;
    let transferring: () => void = () => {};
    const holdsTheConnection = new Promise<void>((resolve) => {
      transferring = resolve;
    });
    const running = target
      .upload(big, 'big.bin', {
        onProgress: (done) => {
          transferring();
          // Close mid-transfer, once the second upload waits for the only connection.
          if (done > 2 * 1024 * 1024 && !closing && target.stats().waiting > 0) closing = target.close();
        },
      })
      .catch((error: unknown) => error);
    // Started only once the first one transfers, so it is the one that waits.
    await holdsTheConnection;
    const waiting = target.upload(big, 'waiting.bin').catch((error: unknown) => error);
    const [first, second] = await Promise.all([running, waiting]);
    await closing;
    expect(first).toMatchObject({ stage: 'deliver', retryable: true });
    expect(second).toMatchObject({ code: 'DESTINATION_ERROR', retryable: false });
    expect(target.stats()).toMatchObject({ open: 0, idle: 0, busy: 0, waiting: 0 });
    expect(await listFiles(join(sftp.server.root, 'closing'))).not.toContain('big.bin');
  });
});

describe('sftp destination: abort while connecting', () => {
  let silent: Server;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts TCP connections and never says a word: the SSH handshake hangs.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('an abort during the handshake rejects with CANCELLED and closes the socket', async () => {
    const address = silent.address() as { port: number };
    const target = destination({ port: address.port, readyTimeoutMs: 600_000 });
    const source = await sftp.local.file('handshake.txt', 'x');
    const controller = new AbortController();
    const attempt = target.upload(source, 'never.txt', { signal: controller.signal });
    while (sockets.size === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    await expect(attempt).rejects.toMatchObject({ code: 'CANCELLED', stage: 'deliver' });
    expect(target.stats()).toMatchObject({ open: 0, busy: 0, waiting: 0 });
    while (sockets.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  });

  it('an abort while waiting for a pooled connection leaves the queue', async () => {
    const address = silent.address() as { port: number };
    const target = destination({ port: address.port, readyTimeoutMs: 600_000, pool: { max: 1 } });
    const source = await sftp.local.file('queued.txt', 'x');
    const holder = new AbortController();
    const holding = target.upload(source, 'held.txt', { signal: holder.signal }).catch((error) => error);
    const controller = new AbortController();
    const queued = target.upload(source, 'queued.txt', { signal: controller.signal });
    while (target.stats().waiting === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await expect(queued).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(target.stats().waiting).toBe(0);
    holder.abort();
    expect(await holding).toMatchObject({ code: 'CANCELLED' });
  });
});

describe('sftp destination: a pooled connection that went silent', () => {
  it('an abort ends the checkout health check at once instead of waiting readyTimeoutMs', async () => {
    const proxy = await startFaultProxy({ port: sftp.server.port });
    try {
      const target = destination({ port: proxy.port, readyTimeoutMs: 600_000 });
      const source = await sftp.local.file('silent.txt', 'first');
      await target.upload(source, 'silent-1.txt');
      expect(target.stats()).toMatchObject({ open: 1, idle: 1 });
      // The idle connection's peer stops answering without closing: only the check can notice.
      proxy.stall();
      const controller = new AbortController();
      const attempt = target.upload(source, 'silent-2.txt', { signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      await expect(attempt).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(target.stats()).toMatchObject({ busy: 0, waiting: 0 });
    } finally {
      proxy.flow();
      await proxy.close();
    }
  });
});
