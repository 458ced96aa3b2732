import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canConnect, freePort } from './net.js';
import { isAlive, waitUntil } from './process.js';

const run = promisify(execFile);

/** Polls like `waitUntil`, with this server's name in the error. */
const waitFor = (condition: () => Promise<boolean>, what: string, timeoutMs = 20000) =>
  waitUntil(condition, `redis cluster: ${what}`, { timeoutMs, intervalMs: 50 });

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisClusterHandle {
  /** The primaries of the cluster, each owning a share of the 16384 slots. */
  nodes: RedisClusterNode[];
  /** Stop every node (SIGTERM, then SIGKILL if needed) and remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** How many primaries (no replicas). Redis needs at least 3. Default 3. */
  nodes?: number;
  /** Path of the redis-server binary. Default `redis-server` from PATH. */
  binary?: string;
  /** Path of the redis-cli binary. Default `redis-cli` from PATH. */
  cli?: string;
}

/**
 * Run a private Redis Cluster on 127.0.0.1: `nodes` daemonized `redis-server`
 * primaries on free ports, no replicas, nothing saved to disk, one temp dir for
 * their pidfiles, logs and cluster config. Resolves once the cluster reports
 * `cluster_state:ok` on every node.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 3) throw new Error('A Redis Cluster needs at least 3 primaries.');
  const binary = options.binary ?? 'redis-server';
  const cli = options.cli ?? 'redis-cli';
  const dir = await mkdtemp(join(tmpdir(), 'ncr-redis-cluster-'));
  const ports: number[] = [];
  const taken = new Set<number>();
  let stopped = false;

  const pidOf = async (port: number): Promise<number | null> => {
    try {
      const pid = Number.parseInt((await readFile(join(dir, `redis-${port}.pid`), 'utf8')).trim(), 10);
      return Number.isFinite(pid) ? pid : null;
    } catch {
      return null;
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      for (const port of ports) {
        const pid = await pidOf(port);
        if (pid === null || !isAlive(pid)) continue;
        process.kill(pid, 'SIGTERM');
        try {
          await waitFor(async () => !isAlive(pid), `pid ${pid} to exit`, 10_000);
        } catch {
          if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  try {
    for (let index = 0; index < count; index++) {
      // Each node needs a client port and a cluster bus port (by default port + 10000,
      // which overflows for ephemeral ports): both free and distinct.
      let port = await freePort();
      while (taken.has(port)) port = await freePort();
      taken.add(port);
      let busPort = await freePort();
      while (taken.has(busPort)) busPort = await freePort();
      taken.add(busPort);
      ports.push(port);
      // biome-ignore format: one flag per line reads better
      await run(binary, [
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-port', String(busPort),
        '--bind', '127.0.0.1', '--port', String(port), '--dir', dir,
        '--daemonize', 'yes', '--pidfile', join(dir, `redis-${port}.pid`),
        '--logfile', join(dir, `redis-${port}.log`),
        '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
      ]);
    }
    for (const port of ports) {
      await waitFor(() => canConnect(port), `port ${port} to accept connections`);
      await waitFor(async () => (await pidOf(port)) !== null, `the pidfile of port ${port}`);
    }
    await run(cli, [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    for (const port of ports) {
      await waitFor(async () => {
        const { stdout } = await run(cli, ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']);
        return stdout.includes('cluster_state:ok');
      }, `cluster_state:ok on port ${port}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}
