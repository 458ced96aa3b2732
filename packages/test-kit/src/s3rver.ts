/**
 * A real S3 server for tests and benchmarks: s3rver on 127.0.0.1, a free port
 * and a temporary directory that is removed on `stop()`.
 *
 * Clients made by `client()` use the options every S3-compatible server needs
 * here: path-style addressing and checksums only when required (otherwise a
 * stream PutObject is sent aws-chunked and s3rver stores the framing as the
 * object's bytes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

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
  /** Client options for this server (path style, checksums when required, the s3rver credentials). */
  clientOptions(overrides?: Partial<S3ClientConfig>): S3ClientConfig;
  /** A new S3Client with `clientOptions()`. The caller destroys it (or `stop()` does). */
  client(overrides?: Partial<S3ClientConfig>): S3Client;
  createBucket(name: string): Promise<void>;
  putObject(bucket: string, key: string, body: Buffer | string | Readable, contentLength?: number): Promise<void>;
  /** Closes the server, destroys the clients it made and removes its temporary directory. */
  stop(): Promise<void>;
}

export async function startS3rver(options: StartS3rverOptions = {}): Promise<RunningS3rver> {
  const S3rver = require('s3rver') as S3rverConstructor;
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'ncr-s3rver-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    vhostBuckets: false,
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    if (ownDirectory) await rm(directory, { recursive: true, force: true });
    throw error;
  }
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
      await server.close();
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
    },
  };
}
