import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkZip } from './check-zip.mjs';
import { MultipartError, multipartBoundary, parseMultipart } from './multipart-parser.mjs';

const JOB_FIELDS = ['job_id', 'username', 'campaign', 'row_id'];

class RequestError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function sendJson(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** Writes chunks to a file while hashing and counting them; `write` waits for the disk. */
function fileSink(path, maxBytes) {
  const hash = createHash('sha256');
  const stream = createWriteStream(path);
  let size = 0;
  let failure = null;
  stream.on('error', (error) => {
    failure = error;
  });
  return {
    path,
    get size() {
      return size;
    },
    digest: () => hash.digest('hex'),
    async write(chunk) {
      if (failure) throw failure;
      size += chunk.length;
      if (size > maxBytes) throw new RequestError(413, `the upload is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
    },
    end: () =>
      new Promise((resolve, reject) => {
        if (failure) reject(failure);
        else stream.end(() => (failure ? reject(failure) : resolve()));
      }),
    destroy: () => stream.destroy(),
  };
}

/**
 * The request handler of the reference validator, for embedding in another
 * server (the test kit's stub wraps it).
 * @param {import('./validator-server.d.mts').ValidatorServerOptions} [options]
 */
export function createValidatorHandler(options = {}) {
  const workDir = options.tempDir ?? tmpdir();
  const maxBytes = options.maxBytes ?? 10 * 1024 ** 3;
  const allowedExtensions = options.allowedExtensions?.length ? options.allowedExtensions : undefined;

  async function validate(request, url) {
    const folder = await mkdtemp(join(workDir, 'ncr-validator-'));
    let sink = null;
    try {
      const contentType = String(request.headers['content-type'] ?? '');
      const boundary = multipartBoundary(contentType);
      const job = {};
      let mode;
      if (boundary) {
        mode = 'multipart';
        const fields = await parseMultipart(request, boundary, {
          openFile: (part) => {
            if (sink) throw new RequestError(400, 'only one file part is accepted');
            if (options.fieldName && part.name !== options.fieldName) return null;
            sink = fileSink(join(folder, `${randomUUID()}.zip`), maxBytes);
            return sink;
          },
        });
        for (const name of [...JOB_FIELDS, 'sha256'])
          if (fields[name] !== undefined) job[name] = fields[name];
      } else {
        mode = 'raw';
        sink = fileSink(join(folder, `${randomUUID()}.zip`), maxBytes);
        for await (const chunk of request) await sink.write(chunk);
        await sink.end();
        for (const name of [...JOB_FIELDS, 'sha256']) {
          const header = request.headers[name === 'job_id' ? 'x-job-id' : `x-job-${name.replace('_', '-')}`];
          const value = url.searchParams.get(name) ?? (typeof header === 'string' ? header : undefined);
          if (value !== undefined) job[name] = value;
        }
      }
      if (!sink) throw new RequestError(400, 'no file part in the multipart body');
      if (!job.job_id) throw new RequestError(400, 'job_id is missing');
      const sha256 = sink.digest();
      const size = sink.size;
      const { errors, files, truncated } = await checkZip(sink.path, { allowedExtensions });
      return { mode, job, sha256, size, errors, files, ...(truncated ? { truncated } : {}) };
    } finally {
      sink?.destroy();
      await rm(folder, { recursive: true, force: true });
    }
  }

  return async function handle(request, response) {
    const url = new URL(request.url ?? '/', 'http://validator.local');
    if (request.method === 'GET' && url.pathname === '/health') {
      sendJson(response, 200, { status: 'ok' });
      return;
    }
    if (url.pathname !== '/validate') {
      sendJson(response, 404, { error: 'not found' });
      return;
    }
    if (request.method !== 'POST' && request.method !== 'PUT') {
      sendJson(response, 405, { error: 'use POST' });
      return;
    }
    try {
      const result = await validate(request, url);
      options.onResult?.(result);
      sendJson(response, 200, {
        valid: result.errors.length === 0,
        errors: result.errors,
        files: result.files,
        ...(result.truncated ? { truncated: true } : {}),
        size: result.size,
        sha256: result.sha256,
        mode: result.mode,
        job: result.job,
      });
    } catch (error) {
      const status =
        error instanceof RequestError ? error.status : error instanceof MultipartError ? 400 : 500;
      const message = status === 500 ? 'internal error' : error.message;
      if (status === 500) options.onError?.(error);
      if (!response.headersSent) {
        // Tell the client to stop sending a body we will not read.
        response.setHeader('connection', 'close');
        sendJson(response, status, { valid: false, errors: [{ message, code: `HTTP_${status}` }] });
      }
      request.resume();
    }
  };
}

/**
 * Start the reference validator: `POST /validate` (multipart or raw zip) and
 * `GET /health`.
 * @param {import('./validator-server.d.mts').ValidatorServerOptions} [options]
 * @returns {Promise<import('./validator-server.d.mts').RunningValidatorServer>}
 */
export async function startValidatorServer(options = {}) {
  const handle = createValidatorHandler(options);
  const server = http.createServer((request, response) => {
    handle(request, response).catch((error) => {
      options.onError?.(error);
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = `http://${host}:${address.port}`;
  return {
    server,
    port: address.port,
    url: `${base}/validate`,
    healthUrl: `${base}/health`,
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
