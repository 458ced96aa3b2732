import { z } from 'zod';
import { UploadError } from '../errors.js';
import type { Logger } from '../pipeline-types.js';
import type { ExistingFilePolicy } from '../ports/destination.js';
import { normaliseFingerprint } from './host-key.js';

/** Options of `createSftpDestination`. Secrets (password, key, passphrase) never reach logs or errors. */
export interface SftpDestinationOptions {
  /** Server host name or address. Required. */
  host: string;
  /** Server port. Default 22. */
  port?: number;
  /** User to log in as. Required. */
  username: string;
  /** Password authentication. Default: none. */
  password?: string;
  /** Private key (PEM or OpenSSH format) for public key authentication. Default: none. */
  privateKey?: string | Buffer;
  /** Passphrase of an encrypted `privateKey`. Default: none. */
  passphrase?: string;
  /** Path of an ssh-agent socket (e.g. `process.env.SSH_AUTH_SOCK`). Default: none. */
  agent?: string;
  /**
   * The server's host key fingerprint as OpenSSH prints it, `SHA256:<base64>`
   * (`ssh-keyscan -t ed25519 HOST | ssh-keygen -lf -`). Required unless
   * `insecureSkipHostKeyCheck` is true. Default: none.
   */
  hostFingerprint?: string;
  /** Accept any host key (man-in-the-middle risk; logs a warning). Default false. */
  insecureSkipHostKeyCheck?: boolean;
  /** Folder on the server that remote paths are relative to. Created on upload when missing. Default `.` (the login folder). */
  remoteDir?: string;
  /** What to do when the final name already exists. Default `overwrite`. */
  onExisting?: ExistingFilePolicy;
  /** Connection pool shared by concurrent uploads. */
  pool?: {
    /** Most connections open at once. Default 4. */
    max?: number;
    /** Close a connection that stayed idle this long. Default 30000 ms. */
    idleTimeoutMs?: number;
  };
  /** SSH keepalive interval; a connection is dropped after 3 unanswered keepalives. 0 disables. Default 10000 ms. */
  keepaliveIntervalMs?: number;
  /** How long to wait for the SSH handshake and authentication. Default 20000 ms. */
  readyTimeoutMs?: number;
  /** Write requests in flight per file upload (`fastPut` concurrency). Default 64. */
  uploadConcurrency?: number;
  /**
   * Bytes per write request. Default: the largest write the server announces
   * (OpenSSH's `limits@openssh.com`), at most 262144; 32768 (the most every
   * SFTP server accepts) when it announces none.
   */
  chunkSize?: number;
  /**
   * Run streamed uploads (`beginUpload`, the single pass) on a worker thread
   * with its own connections (at most `pool.max` more), so SSH encryption and
   * the upload's socket writes do not take turns with the zip and the
   * validator on the main thread. It pays only when a core is free for it:
   * on a busy 2-core machine it cost 30–75 % more CPU and about 50 MB more
   * memory, and was slower in 3 runs of 4 (docs/performance.md). Default false.
   */
  uploadThread?: boolean;
  /** Structured logger for warnings (insecure mode, failed cleanup). Default: silent. */
  logger?: Logger;
}

const loggerSchema = z.custom<Logger>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    ['debug', 'info', 'warn', 'error'].every(
      (method) => typeof (value as Record<string, unknown>)[method] === 'function',
    ),
  { message: 'must have debug, info, warn and error methods' },
);

const schema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  username: z.string().min(1),
  password: z.string().optional(),
  privateKey: z.union([z.string().min(1), z.instanceof(Buffer)]).optional(),
  passphrase: z.string().optional(),
  agent: z.string().min(1).optional(),
  hostFingerprint: z.string().optional(),
  insecureSkipHostKeyCheck: z.boolean().default(false),
  remoteDir: z.string().min(1).default('.'),
  onExisting: z.enum(['overwrite', 'fail', 'skip-if-same']).default('overwrite'),
  pool: z
    .strictObject({
      max: z.number().int().min(1).max(64).default(4),
      idleTimeoutMs: z.number().int().min(0).default(30_000),
    })
    .default({ max: 4, idleTimeoutMs: 30_000 }),
  keepaliveIntervalMs: z.number().int().min(0).default(10_000),
  readyTimeoutMs: z.number().int().min(1).default(20_000),
  uploadConcurrency: z.number().int().min(1).max(1024).default(64),
  chunkSize: z.number().int().min(512).max(262_144).optional(),
  uploadThread: z.boolean().default(false),
  logger: loggerSchema.optional(),
});

export type ResolvedSftpOptions = z.output<typeof schema> & { hostFingerprint: string | undefined };

function invalid(message: string, details?: unknown): UploadError {
  return new UploadError('CONFIG_INVALID', `Invalid SFTP destination options: ${message}`, {
    stage: 'deliver',
    details,
  });
}

/** Validate and fill in defaults; throws CONFIG_INVALID (without echoing any value). */
export function resolveSftpOptions(input: SftpDestinationOptions): ResolvedSftpOptions {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: issue.path.join('.'),
      message: issue.message,
    }));
    throw invalid(issues.map((issue) => `${issue.path || '(options)'}: ${issue.message}`).join('; '), {
      issues,
    });
  }
  const options = parsed.data;
  if (options.password === undefined && options.privateKey === undefined && options.agent === undefined) {
    throw invalid('give one of password, privateKey or agent to log in with.');
  }
  let hostFingerprint: string | undefined;
  if (options.hostFingerprint !== undefined) {
    hostFingerprint = normaliseFingerprint(options.hostFingerprint);
    if (!hostFingerprint) {
      throw invalid(
        `hostFingerprint must look like "SHA256:<43 base64 characters>" as printed by \`ssh-keyscan -t ed25519 HOST | ssh-keygen -lf -\` (got ${JSON.stringify(options.hostFingerprint.slice(0, 80))}).`,
      );
    }
  } else if (!options.insecureSkipHostKeyCheck) {
    throw invalid(
      'hostFingerprint is required to pin the server host key (get it with `ssh-keyscan -t ed25519 HOST | ssh-keygen -lf -`); set insecureSkipHostKeyCheck: true only for tests.',
    );
  }
  return { ...options, hostFingerprint };
}
