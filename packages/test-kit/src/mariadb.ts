import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql, { type Pool } from 'mysql2/promise';
import { freePort } from './net.js';

const run = promisify(execFile);

/** The MariaDB that runs on this project's machines (root, empty password). */
export const DEFAULT_MARIADB_URL = process.env.NCR_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306';

export interface TestDatabase {
  /** The unique database name, e.g. `ncr_test_1234_ab12cd`. */
  database: string;
  /** `mysql://…/<database>` */
  uri: string;
  /** A pool on the database (named placeholders and multiple statements on). Ended by `drop()`. */
  pool: Pool;
  /** Run a file of SQL statements (e.g. a schema) in the database. */
  exec(sql: string): Promise<void>;
  /** Drop the database and end the pool. Safe to call twice. */
  drop(): Promise<void>;
}

/** Create a uniquely named database for one test run on an existing server (default: the machine's MariaDB). */
export async function createTestDatabase(options: { url?: string } = {}): Promise<TestDatabase> {
  const url = (options.url ?? DEFAULT_MARIADB_URL).replace(/\/+$/, '');
  const database = `ncr_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: url });
  try {
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const uri = `${url}/${database}`;
  const pool = mysql.createPool({
    uri,
    namedPlaceholders: true,
    multipleStatements: true,
    connectionLimit: 4,
  });
  let dropped = false;
  return {
    database,
    uri,
    pool,
    exec: async (sql) => {
      await pool.query(sql);
    },
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await pool.end();
      const cleanup = await mysql.createConnection({ uri: url });
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await cleanup.end();
      }
    },
  };
}

export interface MariadbHandle {
  port: number;
  /** `mysql://root@127.0.0.1:<port>` */
  url: string;
  /** Stop the server (SIGTERM) and wait for it to exit; the data stays for `start()`. Safe to call twice. */
  stop(): Promise<void>;
  /** Start it again on the same port and data (after `stop()`). */
  start(): Promise<void>;
  /** Stop it if it runs and remove its data folder. */
  dispose(): Promise<void>;
}

/**
 * Start a MariaDB server of our own (root, empty password) on 127.0.0.1 and a
 * free port, with its data in a temp folder, so a test can stop it (an
 * outage) without touching the machine's server. Needs `mariadbd` and
 * `mariadb-install-db` (Debian: mariadb-server).
 */
export async function startMariadb(): Promise<MariadbHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'ncr-mariadb-'));
  const datadir = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  const port = await freePort();
  let child: ChildProcess | null = null;

  const ping = async () => {
    try {
      await run('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping'], {
        timeout: 5_000,
      });
      return true;
    } catch {
      return false;
    }
  };

  const start = async () => {
    if (child) return;
    const server = spawn(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        '--user=root',
        '--bind-address=127.0.0.1',
        `--port=${port}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mariadb.pid')}`,
        `--log-error=${join(dir, 'error.log')}`,
        '--skip-log-bin',
        '--innodb-buffer-pool-size=64M',
      ],
      { stdio: 'ignore' },
    );
    child = server;
    let exited = false;
    server.once('exit', () => {
      exited = true;
      if (child === server) child = null;
    });
    const deadline = Date.now() + 30_000;
    while (!(await ping())) {
      if (exited) throw new Error(`mariadbd exited during start-up; see ${join(dir, 'error.log')}`);
      if (Date.now() > deadline) throw new Error('mariadbd did not answer within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stop = async () => {
    const server = child;
    if (!server) return;
    if (server.exitCode !== null || server.signalCode !== null) {
      child = null;
      return;
    }
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
    child = null;
  };

  try {
    await start();
  } catch (error) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `mysql://root@127.0.0.1:${port}`,
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
