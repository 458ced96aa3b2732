/**
 * A real S3 server for tests and benchmarks: s3rver in its own process on
 * 127.0.0.1, a free port and a temporary directory that is removed on `stop()`.
 *
 * Clients made by `client()` use the options every S3-compatible server needs
 * here: path-style addressing and checksums only when required (otherwise a
 * stream PutObject is sent aws-chunked and s3rver stores the framing as the
 * object's bytes).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);

/**
 * Runs in a child Node process started with `--openssl-legacy-provider`:
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3
 * only offers through its legacy provider (without it every truncated listing,
 * i.e. more than 1000 keys, answers 500 InternalError). A process of its own
 * also keeps the server's work off the test's event loop, as a real S3 would.
 */
const CHILD_SCRIPT = `
const S3rver = require(process.env.NCR_S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: process.env.NCR_S3RVER_DIRECTORY,
  silent: true,
  vhostBuckets: false,
});
server.run().then(
  (address) => process.send({ port: address.port }),
  (error) => { process.send({ error: String(error && error.stack || error) }); process.exit(1); },
);
const stop = () => server.close().finally(() => process.exit(0));
process.on('message', (message) => { if (message === 'stop') stop(); });
process.on('disconnect', stop);
`;

/** The access key s3rver knows out of the box. Requests signed with any other key get `InvalidAccessKeyId`. */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
/** s3rver does not check the secret of v4 signatures; this is the one it was created with. */
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';

export interface StartS3rverOptions {
  /** Where s3rver keeps buckets. Default: a new temporary directory, removed on `stop()`. */
  directory?: string;
}

export interface RunningS3rver {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** The process s3rver runs in. */
  readonly pid: number | undefined;
  /** Client options for this server (path style, checksums when required, the s3rver credentials). */
  clientOptions(overrides?: Partial<S3ClientConfig>): S3ClientConfig;
  /** A new S3Client with `clientOptions()`. The caller destroys it (or `stop()` does). */
  client(overrides?: Partial<S3ClientConfig>): S3Client;
  createBucket(name: string): Promise<void>;
  putObject(
    bucket: string,
    key: string,
    body: Buffer | string | Readable,
    contentLength?: number,
  ): Promise<void>;
  /** Closes the server, destroys the clients it made and removes its temporary directory. */
  stop(): Promise<void>;
}

function runChild(directory: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_SCRIPT], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, NCR_S3RVER_MODULE: require.resolve('s3rver'), NCR_S3RVER_DIRECTORY: directory },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`s3rver exited with code ${code} before listening: ${stderr}`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.once('message', (message: { port?: number; error?: string }) => {
      child.off('exit', onExit);
      if (typeof message.port === 'number') resolve({ child, port: message.port });
      else reject(new Error(`s3rver failed to start: ${message.error ?? 'unknown error'}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send('stop');
    else child.kill('SIGTERM');
  });
}

export async function startS3rver(options: StartS3rverOptions = {}): Promise<RunningS3rver> {
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'ncr-s3rver-')));
  let started: { child: ChildProcess; port: number };
  try {
    started = await runChild(directory);
  } catch (error) {
    if (ownDirectory) await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const { child } = started;
  const address = { port: started.port };
  const endpoint = `http://127.0.0.1:${address.port}`;
  const clients = new Set<S3Client>();

  const clientOptions = (overrides: Partial<S3ClientConfig> = {}): S3ClientConfig => ({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
    ...overrides,
  });
  const client = (overrides?: Partial<S3ClientConfig>): S3Client => {
    const created = new S3Client(clientOptions(overrides));
    clients.add(created);
    return created;
  };
  let shared: S3Client | undefined;
  const sharedClient = (): S3Client => {
    shared ??= client();
    return shared;
  };

  return {
    endpoint,
    port: address.port,
    pid: child.pid,
    clientOptions,
    client,
    async createBucket(name) {
      await sharedClient().send(new CreateBucketCommand({ Bucket: name }));
    },
    async putObject(bucket, key, body, contentLength) {
      await sharedClient().send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ...(contentLength === undefined ? {} : { ContentLength: contentLength }),
        }),
      );
    },
    async stop() {
      for (const created of clients) created.destroy();
      clients.clear();
      await stopChild(child);
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
    },
  };
}
