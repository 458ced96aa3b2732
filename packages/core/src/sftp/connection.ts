import SftpClient from 'ssh2-sftp-client';
import { type ConnectionFacts, connectError } from './errors.js';
import { fingerprintOf } from './host-key.js';
import type { ResolvedSftpOptions } from './options.js';

/** One SSH connection with its SFTP channel. */
export interface SftpConnection {
  readonly id: number;
  readonly client: SftpClient;
  readonly facts: ConnectionFacts;
  /** Drop the TCP connection at once (aborts every request in flight). */
  destroy(): void;
  /** Close politely. */
  end(): Promise<void>;
}

interface RawSsh2Client {
  on(event: string, listener: (...args: unknown[]) => void): void;
  setNoDelay?(noDelay: boolean): void;
  destroy?(): void;
  end(): void;
}

const noop = () => {};

/** The parts of ssh2's SFTP channel that `failPendingRequests` touches. */
interface RawSftpChannel {
  _requests?: Record<string, { cb?: unknown }>;
  [method: string]: unknown;
}

const REQUEST_METHODS = ['open', 'close', 'read', 'write', 'fstat', 'stat', 'lstat', 'unlink', 'rename'];

/**
 * ssh2 never answers a request made on an SFTP channel that has closed (and
 * one made while it closes): its callback never runs. `fastPut` then waits
 * for ever holding the local file open, one descriptor per upload cut by a
 * dropped connection or an abort. Answer every pending and later request of a
 * closed channel with an error, so `fastPut` ends and closes its file.
 */
function failPendingRequests(client: SftpClient, opened?: RawSftpChannel): void {
  // The library may drop its reference to the channel on close: use the one kept at connect.
  const channel = opened ?? (client as unknown as { sftp?: RawSftpChannel }).sftp;
  if (!channel || channel.__ncrClosed) return;
  channel.__ncrClosed = true;
  const fail = (callback: unknown) => {
    if (typeof callback === 'function')
      process.nextTick(callback, new Error('The SFTP connection is closed.'));
  };
  const pending = channel._requests ?? {};
  channel._requests = {};
  for (const request of Object.values(pending)) fail(request.cb);
  for (const method of REQUEST_METHODS) {
    channel[method] = (...args: unknown[]) => fail(args.findLast((arg) => typeof arg === 'function'));
  }
}
const END_TIMEOUT_MS = 2000;
let nextId = 1;

/** Open and authenticate one connection; the host key is pinned by fingerprint. */
export async function openConnection(
  options: ResolvedSftpOptions,
  signal?: AbortSignal,
): Promise<SftpConnection> {
  // Callbacks replace the library's default console output on unexpected events.
  const client = new SftpClient('ncr-upload', { error: noop, end: noop, close: noop });
  const raw = (client as unknown as { client: RawSsh2Client }).client;
  const facts: ConnectionFacts = { endpoint: `${options.host}:${options.port}`, closed: false };
  raw.on('error', (error) => {
    facts.lastError = error;
  });
  let channel: RawSftpChannel | undefined;
  raw.on('close', () => {
    facts.closed = true;
    failPendingRequests(client, channel);
  });
  const destroy = () => {
    facts.closed = true;
    if (raw.destroy) raw.destroy();
    else raw.end();
    failPendingRequests(client, channel);
  };
  const expected = options.hostFingerprint;
  const onAbort = () => destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw signal.reason;
    await client.connect({
      host: options.host,
      port: options.port,
      username: options.username,
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
      ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
      ...(options.agent === undefined ? {} : { agent: options.agent }),
      readyTimeout: options.readyTimeoutMs,
      keepaliveInterval: options.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        if (expected === undefined) return true;
        const received = fingerprintOf(key);
        if (received === expected) return true;
        facts.hostKeyMismatch = { expected, received };
        return false;
      },
    });
  } catch (error) {
    destroy();
    throw connectError(error, facts, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  channel = (client as unknown as { sftp?: RawSftpChannel }).sftp;
  // Without TCP_NODELAY, small SFTP requests wait for delayed ACKs: ~100x slower.
  raw.setNoDelay?.(true);
  return {
    id: nextId++,
    client,
    facts,
    destroy,
    async end() {
      if (facts.closed) return;
      // A polite close waits for the server; one that vanished never answers.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, END_TIMEOUT_MS);
        timer.unref();
      });
      await Promise.race([client.end().catch(() => undefined), late]);
      clearTimeout(timer);
      destroy();
    },
  };
}
