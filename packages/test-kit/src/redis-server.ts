import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canConnect, freePort } from './net.js';
import { isAlive, waitUntil } from './process.js';

/** Polls like `waitUntil`, with this server's name in the error. */
const waitFor = (condition: () => Promise<boolean>, what: string, timeoutMs = 10000) =>
  waitUntil(condition, `redis-server: ${what}`, { timeoutMs, intervalMs: 25 });

export { freePort } from './net.js';

const run = promisify(execFile);

export interface RedisServerHandle {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /**
   * Shut the server down (SIGTERM) and wait until its port is closed. Its temp
   * dir is removed, unless `appendOnly` keeps the data for `start()`. Safe to call twice.
   */
  stop(): Promise<void>;
  /** Start it again on the same port (after stop() or kill()): an outage that ends. */
  start(): Promise<void>;
  /** SIGKILL the server (a crash) and wait until its port is closed; the temp dir as for `stop()`. */
  kill(): Promise<void>;
  /**
   * Freeze the server for `ms` (SIGSTOP, then SIGCONT): its connections stay
   * open and nothing is answered until it thaws, as a Redis starved of CPU or
   * stuck in a long command. Resolves once it runs again.
   */
  stall(ms: number): Promise<void>;
  /** Stop the server if it runs and always remove its temp dir. */
  dispose(): Promise<void>;
}

export interface RedisServerOptions {
  /** Path of the redis-server binary. Default `redis-server` from PATH. */
  binary?: string;
  /**
   * Keep data across stop()/start() with an append-only file (fsync every
   * second, written in full on a graceful stop), as production BullMQ setups
   * do. Default false: nothing is written to disk.
   */
  appendOnly?: boolean;
}

/**
 * Run a private `redis-server` on 127.0.0.1 and a free port, daemonized, with
 * its own temp dir (pidfile, log). Nothing is saved to disk. `stop()` then
 * `start()` restarts it on the same port (an outage); `dispose()` removes it all.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const binary = options.binary ?? 'redis-server';
  const dir = await mkdtemp(join(tmpdir(), 'ncr-redis-'));
  const port = await freePort();
  const pidFile = join(dir, 'redis.pid');
  const logFile = join(dir, 'redis.log');

  const readPid = async (): Promise<number | null> => {
    try {
      const pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
      return Number.isFinite(pid) ? pid : null;
    } catch {
      return null;
    }
  };

  const start = async () => {
    await mkdir(dir, { recursive: true });
    await rm(pidFile, { force: true });
    // biome-ignore format: one flag per line reads better
    await run(binary, [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dir,
      '--daemonize', 'yes', '--pidfile', pidFile, '--logfile', logFile,
      '--save', '', '--maxmemory-policy', 'noeviction',
      ...(options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ]);
    await waitFor(() => canConnect(port), `port ${port} to accept connections`);
    await waitFor(async () => (await readPid()) !== null, 'the pidfile');
  };

  const terminate = async (signal: NodeJS.Signals) => {
    const pid = await readPid();
    if (pid !== null && isAlive(pid)) {
      process.kill(pid, signal);
      await waitFor(async () => !isAlive(pid), `pid ${pid} to exit`);
    }
    await waitFor(async () => !(await canConnect(port)), `port ${port} to close`);
    if (!options.appendOnly) await rm(dir, { recursive: true, force: true });
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    async stall(ms) {
      const pid = await readPid();
      if (pid === null || !isAlive(pid)) throw new Error('redis-server is not running');
      process.kill(pid, 'SIGSTOP');
      try {
        await new Promise((resolve) => setTimeout(resolve, ms));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    },
    async dispose() {
      try {
        await terminate('SIGTERM');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
