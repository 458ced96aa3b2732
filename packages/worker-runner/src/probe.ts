#!/usr/bin/env node
/**
 * `ncr-upload probe live|ready`: a tiny HTTP probe for container health checks.
 *
 * It imports nothing but `node:http`, so `node dist/probe.js ready` starts in
 * the time Node itself needs (the full CLI loads the whole pipeline first:
 * seconds on a busy host). Exit 0 when the endpoint answers 200, else 1.
 */
import { request } from 'node:http';

/** What a probe checks and where. */
export interface ProbeOptions {
  /** `live` (`/live`) or `ready` (`/ready`). */
  path: 'live' | 'ready';
  /** Port on 127.0.0.1. Default `WORKER_HEALTH_PORT` when set (worker containers), else `API_PORT`, else 8001. */
  port?: number;
  /** Give up after this many milliseconds. Default 5000 (a busy host answers slowly). */
  timeoutMs?: number;
}

export const PROBE_USAGE = 'Usage: ncr-upload probe live|ready [--port <port>] [--timeout <ms>]\n';

function defaultPort(env: NodeJS.ProcessEnv): number {
  for (const value of [env.WORKER_HEALTH_PORT, env.API_PORT]) {
    if (value && /^\d+$/.test(value.trim())) return Number(value);
  }
  return 8001;
}

/** GET `http://127.0.0.1:<port>/<path>`; resolves to the status code and a short body. */
export function probe(options: ProbeOptions, env = process.env): Promise<{ status: number; body: string }> {
  const port = options.port ?? defaultPort(env);
  return new Promise((resolve, reject) => {
    const call = request(
      { host: '127.0.0.1', port, path: `/${options.path}`, timeout: options.timeoutMs ?? 5000, agent: false },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (body.length < 500) body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: body.slice(0, 500) }));
        response.on('error', reject);
      },
    );
    call.on('timeout', () => call.destroy(new Error(`no answer within ${options.timeoutMs ?? 5000} ms`)));
    call.on('error', reject);
    call.end();
  });
}

/** The `probe` command: prints one line, returns the exit code (0 healthy, 1 not, 2 usage). */
export async function probeCommand(
  args: readonly string[],
  out: Pick<NodeJS.WritableStream, 'write'> = process.stdout,
): Promise<number> {
  const [path, ...rest] = args;
  const options: ProbeOptions = { path: path === 'ready' ? 'ready' : 'live' };
  let valid = path === 'live' || path === 'ready';
  for (let index = 0; index < rest.length; index += 2) {
    const [flag, value] = [rest[index], Number(rest[index + 1])];
    if (flag === '--port' && Number.isInteger(value)) options.port = value;
    else if (flag === '--timeout' && Number.isInteger(value)) options.timeoutMs = value;
    else valid = false;
  }
  if (!valid) {
    out.write(PROBE_USAGE);
    return 2;
  }
  try {
    const { status, body } = await probe(options);
    out.write(`${path} ${status} ${body}\n`);
    return status === 200 ? 0 : 1;
  } catch (error) {
    out.write(`${path} failed: ${(error as Error).message}\n`);
    return 1;
  }
}

// Run directly (`node dist/probe.js ready`), as the image's health checks do.
if (/probe\.[cm]?js$/.test(process.argv[1] ?? '')) {
  probeCommand(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
