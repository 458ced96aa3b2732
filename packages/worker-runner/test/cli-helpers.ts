import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '@ncr-upload/test-kit/redis-server';

export const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
export const testPipelineModule = fileURLToPath(new URL('./fixtures/test-pipeline.ts', import.meta.url));
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const tsconfig = fileURLToPath(new URL('../../../tsconfig.json', import.meta.url));

export { freePort };

export interface CliProcess {
  child: ChildProcess;
  output(): string;
  stderr(): string;
  /** Resolves when stdout (or stderr) matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Run the CLI from source as a real process (tsx), in `cwd`, with `env` added to a clean environment. */
export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): CliProcess {
  const child = spawn(process.execPath, ['--import', tsxLoader, cliPath, ...args], {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TSX_TSCONFIG_PATH: tsconfig,
      NODE_OPTIONS: '',
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  else child.stdin?.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern) ?? err.match(pattern);
          if (match) {
            watchers.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        watchers.add(check);
        void exited.then(() => {
          if (watchers.has(check)) {
            check();
            if (watchers.has(check)) {
              watchers.delete(check);
              clearTimeout(timer);
              reject(new Error(`process exited before ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
            }
          }
        });
        check();
      });
    },
  };
}

export async function postJson(url: string, body: unknown): Promise<{ task_id: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { task_id: string };
}

export async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const response = await fetch(url);
  return (await response.json()) as T;
}

/** Whether something listens on 127.0.0.1:`port` (a connection is accepted). */
export async function accepts(port: number): Promise<boolean> {
  const probe = connect(port, '127.0.0.1');
  try {
    await once(probe, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    probe.destroy();
  }
}

/** Kill (SIGKILL) and wait for every CLI process still running, emptying the list. */
export async function killAll(running: CliProcess[]): Promise<void> {
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  }
}

/**
 * Sends the headers and part of a `POST /process-job` now; `finish()` sends the
 * rest and resolves with the raw answer. The request is then in flight across
 * whatever happens in between (a SIGTERM).
 */
export async function startSubmission(port: number, job: Record<string, unknown>) {
  const body = JSON.stringify(job);
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let reply = '';
  socket.on('data', (chunk) => {
    reply += chunk;
  });
  const closed = once(socket, 'close');
  socket.write(
    `POST /process-job HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
  );
  return {
    async finish() {
      // The rest of the body without a FIN: a half-closed request is aborted by Node's server
      // (httpAllowHalfOpen is off) unless it has answered already. It closes after answering.
      socket.write(body.slice(10));
      await closed;
      const [head = '', payload = ''] = reply.split('\r\n\r\n');
      return { status: Number(head.split(' ')[1]), head, body: payload };
    },
  };
}
