import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import {
  createValidatorHandler,
  type ValidationResult,
  type ValidatorServerOptions,
} from '../../../examples/validator-server/validator-server.mjs';

/**
 * What the stub does with each `POST /validate`, in order:
 * - `'ok'`: the reference validator checks the zip for real and answers;
 * - `'reject'`: 200 `{ valid: false, errors: [{ code: 'STUB_REJECT' }] }`;
 * - a number: that HTTP status with a small JSON body (`{valid:false, errors}` for 4xx);
 * - `'hang'`: reads the body and never answers (for timeouts);
 * - `'garbage'`: 200 with an HTML body (not the validator contract).
 * - `{ early: status }`: answers that status (a small JSON body) after the first 64 KiB of the body, before the rest arrives;
 * - `'close-early'`: drops the connection after the first 64 KiB of the body, without answering.
 * Once the script is used up, every request is checked for real.
 */
export type StubStep = number | 'ok' | 'reject' | 'hang' | 'garbage' | 'close-early' | { early: number };

/** Body bytes the early steps read before they answer or close. */
const EARLY_BYTES = 64 * 1024;

export interface StubRequest {
  step: StubStep;
  /** Body bytes received. */
  bytes: number;
  /** sha256 of the received body (for `'ok'`: of the zip itself). */
  sha256: string;
  contentType: string;
  /** For `'ok'`: what the reference validator found. */
  result?: ValidationResult;
}

export interface ValidatorStub {
  url: string;
  healthUrl: string;
  port: number;
  /** Every `/validate` request seen, in order. */
  requests: StubRequest[];
  close(): Promise<void>;
}

export interface ValidatorStubOptions extends Omit<ValidatorServerOptions, 'port' | 'host' | 'onResult'> {
  script?: StubStep[];
}

async function drain(request: http.IncomingMessage): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { bytes, sha256: hash.digest('hex') };
}

function reply(
  response: http.ServerResponse,
  status: number,
  body: string,
  contentType = 'application/json',
) {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/** A programmable validator for fault tests, in front of the reference validator, on 127.0.0.1 and a free port. */
export async function startValidatorStub(options: ValidatorStubOptions = {}): Promise<ValidatorStub> {
  const { script = [], ...serverOptions } = options;
  const steps = [...script];
  const requests: StubRequest[] = [];
  let lastResult: ValidationResult | undefined;
  const handle = createValidatorHandler({
    ...serverOptions,
    onResult: (result) => {
      lastResult = result;
    },
  });

  const server = http.createServer((request, response) => {
    const isValidate = new URL(request.url ?? '/', 'http://stub.local').pathname === '/validate';
    const step = isValidate ? (steps.shift() ?? 'ok') : 'ok';
    const contentType = String(request.headers['content-type'] ?? '');
    if (step === 'close-early' || typeof step === 'object') {
      let bytes = 0;
      let done = false;
      request.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (done || bytes < EARLY_BYTES) return;
        done = true;
        requests.push({ step, bytes, sha256: '', contentType });
        if (step === 'close-early') {
          request.socket.destroy();
          return;
        }
        const body = {
          valid: false,
          errors: [{ message: `the stub answered ${step.early}`, code: `STUB_${step.early}` }],
        };
        // Like a real server: answer now, and let the rest of the body drain without reading it.
        response.writeHead(step.early, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      });
      return;
    }
    if (step === 'ok') {
      lastResult = undefined;
      handle(request, response).then(
        () => {
          if (!isValidate) return;
          requests.push({
            step,
            bytes: lastResult?.size ?? 0,
            sha256: lastResult?.sha256 ?? '',
            contentType,
            ...(lastResult ? { result: lastResult } : {}),
          });
        },
        () => reply(response, 500, '{"error":"internal error"}'),
      );
      return;
    }
    drain(request).then(
      ({ bytes, sha256 }) => {
        requests.push({ step, bytes, sha256, contentType });
        if (step === 'hang') return;
        if (step === 'garbage') return reply(response, 200, '<html><body>Welcome</body></html>', 'text/html');
        if (step === 'reject') {
          return reply(
            response,
            200,
            JSON.stringify({
              valid: false,
              errors: [{ message: 'rejected by the stub', code: 'STUB_REJECT' }],
            }),
          );
        }
        const body =
          step >= 400 && step < 500
            ? { valid: false, errors: [{ message: `the stub answered ${step}`, code: `STUB_${step}` }] }
            : step < 300
              ? { valid: true, errors: [] }
              : { error: `the stub answered ${step}` };
        return reply(response, step, JSON.stringify(body));
      },
      () => response.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/validate`,
    healthUrl: `http://127.0.0.1:${port}/health`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export interface TestZipEntry {
  name: string;
  /** The entry's bytes, or a size for that many random bytes (streamed, never held in memory). */
  data: string | Buffer | number;
}

export interface TestZip {
  path: string;
  size: number;
  sha256: string;
}

function randomBytesStream(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const chunk = randomBytes(Math.min(left, 1024 * 1024));
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

/** Write a stored (uncompressed) zip holding `entries` to `path`; returns its size and sha256. */
export async function writeTestZip(path: string, entries: TestZipEntry[]): Promise<TestZip> {
  const archive = new ZipArchive({ store: true });
  const done = pipeline(archive, createWriteStream(path));
  for (const entry of entries) {
    archive.append(typeof entry.data === 'number' ? randomBytesStream(entry.data) : entry.data, {
      name: entry.name,
    });
  }
  await archive.finalize();
  await done;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { path, size: (await stat(path)).size, sha256: hash.digest('hex') };
}

/** Flip one byte of `marker` inside the zip (an entry's stored data), so its CRC-32 no longer matches. */
export async function corruptTestZip(zip: TestZip, marker: string): Promise<TestZip> {
  const bytes = await readFile(zip.path);
  const index = bytes.indexOf(Buffer.from(marker));
  if (index < 0) throw new Error(`marker "${marker}" not found in ${zip.path}`);
  bytes[index] = (bytes[index] ?? 0) ^ 0xff;
  await writeFile(zip.path, bytes);
  return { ...zip, sha256: createHash('sha256').update(bytes).digest('hex') };
}
