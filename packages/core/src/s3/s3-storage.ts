import { posix } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isAbortError, isNetworkError, UploadError } from '../errors.js';
import type { CallOptions, FileRef } from '../ports/file-ref.js';
import type { OpenedFile, Storage } from '../ports/storage.js';
import { type RetryPolicy, withS3Retry } from './retry.js';
import { type S3ErrorContext, toS3UploadError } from './s3-errors.js';
import { SizeCheckStream } from './size-check-stream.js';

export interface S3StorageOptions {
  /**
   * An S3Client you own (never destroyed by `close()`). Its own retry strategy
   * runs inside this storage's retries. Default: one created from `clientOptions`.
   */
  client?: S3Client;
  /**
   * Options for the S3Client created when `client` is not given: `endpoint`,
   * `region`, `credentials`, `forcePathStyle`... For Wasabi, MinIO and other
   * S3-compatible services use `s3ClientOptionsForCompatible(...)`. The SDK's
   * own retries are turned off (`maxAttempts: 1`) unless set here, so that
   * `maxAttempts` below governs. Default: `{}` (the SDK's environment/credential chain).
   */
  clientOptions?: S3ClientConfig;
  /** The bucket. Required. */
  bucket: string;
  /** Prepended to every key (e.g. `uploads/`); `list` returns keys without it. Default: `''`. */
  prefix?: string;
  /** Attempts per S3 request (first included) on throttling, 5xx, timeouts and resets, before the body starts. Default: `4`. */
  maxAttempts?: number;
  /** Delay before the first retry in milliseconds; doubles each attempt, with full jitter. Default: `100`. */
  retryBaseDelayMs?: number;
  /** Upper bound of one retry delay in milliseconds. Default: `5000`. */
  retryMaxDelayMs?: number;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). Default: `1000`. */
  pageSize?: number;
}

const optionsSchema = z.object({
  bucket: z.string().min(3, 'bucket must be a bucket name'),
  prefix: z.string().default(''),
  maxAttempts: z.number().int().min(1).max(20).default(4),
  retryBaseDelayMs: z.number().int().min(0).default(100),
  retryMaxDelayMs: z.number().int().min(0).default(5000),
  pageSize: z.number().int().min(1).max(1000).default(1000),
});

export interface S3Storage extends Storage {
  list(prefix: string, options?: CallOptions): AsyncIterable<FileRef>;
  ping(options?: CallOptions): Promise<void>;
  close(): Promise<void>;
  /** The bucket this storage reads. */
  readonly bucket: string;
  /** The key prefix this storage adds. */
  readonly prefix: string;
}

function cancelled(context: S3ErrorContext): UploadError {
  return toS3UploadError(Object.assign(new Error('aborted'), { name: 'AbortError' }), context);
}

/** A Storage reading objects from S3 or an S3-compatible service (Wasabi, MinIO). */
export function createS3Storage(options: S3StorageOptions): S3Storage {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new UploadError('CONFIG_INVALID', `Invalid S3 storage options: ${fields.join('; ')}.`, {
      details: fields,
    });
  }
  const settings = parsed.data;
  const { bucket, prefix } = settings;
  const policy: RetryPolicy = {
    maxAttempts: settings.maxAttempts,
    baseDelayMs: settings.retryBaseDelayMs,
    maxDelayMs: settings.retryMaxDelayMs,
  };
  let client = options.client;
  let ownClient: S3Client | undefined;
  const getClient = (): S3Client => {
    if (!client) {
      ownClient = new S3Client({ maxAttempts: 1, ...options.clientOptions });
      client = ownClient;
    }
    return client;
  };

  async function send<T>(
    context: S3ErrorContext,
    call: (client: S3Client) => Promise<T>,
    signal?: AbortSignal,
  ) {
    if (signal?.aborted) throw cancelled(context);
    try {
      return await withS3Retry(() => call(getClient()), policy, signal);
    } catch (error) {
      throw signal?.aborted ? cancelled(context) : toS3UploadError(error, context);
    }
  }

  async function open(file: FileRef, callOptions: CallOptions = {}): Promise<OpenedFile> {
    const { signal } = callOptions;
    const key = prefix + file.key;
    const context: S3ErrorContext = { operation: 'GetObject', bucket, key };
    const response = await send(
      context,
      (s3) =>
        s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), signal ? { abortSignal: signal } : {}),
      signal,
    );
    const body = response.Body;
    if (!(body instanceof Readable)) {
      (body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new UploadError('STORAGE_ERROR', `S3 GetObject of "${key}" returned no readable body.`, {
        details: { bucket, key },
      });
    }
    const size = response.ContentLength;
    const output = new SizeCheckStream(size, `S3 object "${key}" in bucket "${bucket}"`);
    const onAbort = () => {
      body.destroy();
      output.destroy(cancelled(context));
    };
    body.on('error', (error) => {
      if (output.destroyed) return;
      if (signal?.aborted) output.destroy(cancelled(context));
      // Without our signal, an "abort" of the body is the connection going away: retryable, not a cancel.
      else if (
        size !== undefined &&
        output.received < size &&
        (isPrematureClose(error) || isAbortError(error))
      ) {
        output.destroy(output.mismatch('the connection closed early', error));
      } else output.destroy(toS3UploadError(error, context));
    });
    output.on('close', () => {
      signal?.removeEventListener('abort', onAbort);
      if (!body.destroyed) body.destroy();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    body.pipe(output);
    return size === undefined ? { stream: output } : { stream: output, size };
  }

  async function* list(listPrefix: string, callOptions: CallOptions = {}): AsyncGenerator<FileRef> {
    const { signal } = callOptions;
    const context: S3ErrorContext = { operation: 'ListObjectsV2', bucket };
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix + listPrefix,
        MaxKeys: settings.pageSize,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      });
      const page = await send(
        context,
        (s3) => s3.send(command, signal ? { abortSignal: signal } : {}),
        signal,
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith('/') || !object.Key.startsWith(prefix)) continue;
        const key = object.Key.slice(prefix.length);
        yield { key, name: posix.basename(key), ...(object.Size === undefined ? {} : { size: object.Size }) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  return {
    bucket,
    prefix,
    open,
    list,
    async ping(callOptions: CallOptions = {}) {
      const { signal } = callOptions;
      await send(
        { operation: 'HeadBucket', bucket },
        (s3) => s3.send(new HeadBucketCommand({ Bucket: bucket }), signal ? { abortSignal: signal } : {}),
        signal,
      );
    },
    async close() {
      ownClient?.destroy();
      ownClient = undefined;
      if (!options.client) client = undefined;
    },
  };
}

function isPrematureClose(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    isNetworkError(error) ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    (error instanceof Error && error.message === 'aborted')
  );
}
