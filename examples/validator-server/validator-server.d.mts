import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface ValidatorServerOptions {
  /** Port to listen on. Default `0` (a free port). */
  port?: number;
  /** Address to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** Folder for the per-request temp folder. Default the OS temp folder. */
  tempDir?: string;
  /** Extensions every file must have, e.g. `['.jpg', '.png']`. Default: any. */
  allowedExtensions?: string[];
  /** Largest upload accepted, in bytes (413 above). Default 10 GiB. */
  maxBytes?: number;
  /** Only this multipart file part is read. Default: the first file part. */
  fieldName?: string;
  /** Called after each validation (for tests and logs). */
  onResult?: (result: ValidationResult) => void;
  /** Called with unexpected errors (answered 500). */
  onError?: (error: unknown) => void;
}

export interface ValidationResult {
  mode: 'multipart' | 'raw';
  job: Record<string, string>;
  sha256: string;
  size: number;
  errors: { message: string; code: string; path?: string }[];
  files: number;
  /** True when more than 100 errors were found (only the first 100 are listed). */
  truncated?: boolean;
}

export interface RunningValidatorServer {
  server: Server;
  port: number;
  /** `http://127.0.0.1:PORT/validate` */
  url: string;
  /** `http://127.0.0.1:PORT/health` */
  healthUrl: string;
  close(): Promise<void>;
}

export function createValidatorHandler(
  options?: ValidatorServerOptions,
): (request: IncomingMessage, response: ServerResponse) => Promise<void>;
export function startValidatorServer(options?: ValidatorServerOptions): Promise<RunningValidatorServer>;
