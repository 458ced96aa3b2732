import type { Agent } from 'node:http';
import { z } from 'zod';
import type { JobRequest } from '../job.js';

export interface HttpValidatorOptions {
  /** The validator endpoint, e.g. `https://validator.example.com/validate`. Credentials in the URL are sent as Basic auth and never shown. */
  url: string;
  /** Deadline for one validation (upload and answer), in ms. Default `120000`. */
  timeoutMs?: number;
  /** Extra request headers, e.g. `{ authorization: 'Bearer …' }`. Never logged nor put in errors. Default none. */
  headers?: Record<string, string>;
  /**
   * How the zip is sent. `multipart`: a multipart/form-data body with the job's
   * fields and the file part. `raw`: the zip as the body (`application/zip`),
   * the job's fields in the query string. Default `'multipart'`.
   */
  mode?: 'raw' | 'multipart';
  /** Name of the file part in `multipart` mode. Default `'file'`. */
  fieldName?: string;
  /** URL answered with 2xx when the validator is up; enables `ping()`. Default none (no `ping`). */
  healthUrl?: string;
  /** Deadline for `ping()`, in ms. Default `5000`. */
  pingTimeoutMs?: number;
  /**
   * When the reply carries a `sha256` field, compare it with the archive's and
   * treat a difference as a corrupted transfer (retryable). Default `true`.
   */
  verifySha256?: boolean;
  /** Largest reply read, in bytes. Default `1048576` (1 MiB). */
  maxReplyBytes?: number;
  /** HTTP(S) agent, e.g. for a private CA or keep-alive tuning. Default Node's global agent. */
  agent?: Agent;
  /**
   * Send the zip while it is produced (`validateStream`: chunked, in the
   * pipeline's single pass; the request lasts as long as the zipping).
   * `false`: send only the finished zip, with a `Content-Length`; the
   * pipeline then validates once the archive is complete (the upload to the
   * destination still overlaps). For validators that need a length, or that
   * sit behind a server cutting long requests (Node's `requestTimeout` is
   * 300 s by default). Default `true`.
   */
  stream?: boolean;
}

export const OptionsSchema = z.object({
  url: z.url({ protocol: /^https?$/, error: 'url must be an http(s) URL' }),
  timeoutMs: z.number().int().positive().default(120_000),
  headers: z.record(z.string(), z.string()).default({}),
  mode: z.enum(['raw', 'multipart']).default('multipart'),
  fieldName: z.string().min(1).default('file'),
  healthUrl: z.url({ protocol: /^https?$/, error: 'healthUrl must be an http(s) URL' }).optional(),
  pingTimeoutMs: z.number().int().positive().default(5_000),
  verifySha256: z.boolean().default(true),
  maxReplyBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  stream: z.boolean().default(true),
});

/** 4xx answers that say nothing about the archive: the request or the setup is wrong, or try later. */
export const NOT_ABOUT_THE_ARCHIVE: Record<number, { retryable: boolean; hint: string }> = {
  401: { retryable: false, hint: 'check the validator credentials (headers)' },
  403: { retryable: false, hint: 'check the validator credentials (headers)' },
  404: { retryable: false, hint: 'check the validator URL' },
  405: { retryable: false, hint: 'check the validator URL' },
  408: { retryable: true, hint: 'it will be retried' },
  429: { retryable: true, hint: 'it will be retried' },
};

export function splitCredentials(raw: string): { url: URL; authorization?: string } {
  const url = new URL(raw);
  if (!url.username && !url.password) return { url };
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** The job's fields, sent as form fields (multipart) or query parameters (raw). */
export function jobFields(job: JobRequest): [string, string][] {
  return [
    ['job_id', job.job_id],
    ['username', job.username],
    ['campaign', job.campaign],
    ...(job.row_id === null || job.row_id === undefined
      ? []
      : [['row_id', String(job.row_id)] as [string, string]]),
  ];
}
