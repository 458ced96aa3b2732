import { UploadError } from '../errors.js';
import type { Logger } from '../pipeline-types.js';
import type { SftpConnection } from './connection.js';
import { abortError } from './errors.js';

/** Counters of the connection pool. */
export interface SftpPoolStats {
  /** Connections open or being opened. */
  open: number;
  /** Open connections waiting for work. */
  idle: number;
  /** Connections checked out by an upload. */
  busy: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /** Connections opened since the pool was created. */
  created: number;
}

export interface PoolOptions {
  max: number;
  idleTimeoutMs: number;
  /** How long a health check on checkout may take. */
  checkTimeoutMs: number;
  logger?: Logger | undefined;
  connect(signal?: AbortSignal): Promise<SftpConnection>;
}

interface IdleEntry {
  connection: SftpConnection;
  timer: NodeJS.Timeout | undefined;
}

/** A small bounded pool: connections are checked out by one upload at a time. */
export class ConnectionPool {
  private readonly idle: IdleEntry[] = [];
  private readonly busy = new Set<SftpConnection>();
  private readonly waiters = new Set<() => void>();
  private open = 0;
  private created = 0;
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  stats(): SftpPoolStats {
    return {
      open: this.open,
      idle: this.idle.length,
      busy: this.busy.size,
      waiting: this.waiters.size,
      created: this.created,
    };
  }

  /** Check out a healthy connection, opening one when under `max`, else wait for one. */
  async acquire(signal?: AbortSignal): Promise<SftpConnection>;
  /** With `wait: false`, resolve `undefined` instead of queueing behind other callers when the pool is full. */
  async acquire(
    signal: AbortSignal | undefined,
    options: { wait: false },
  ): Promise<SftpConnection | undefined>;
  async acquire(signal?: AbortSignal, options?: { wait: false }): Promise<SftpConnection | undefined> {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      if (this.closed) throw this.closedError();
      const entry = this.idle.pop();
      if (entry) {
        clearTimeout(entry.timer);
        if (await this.healthy(entry.connection, signal)) {
          if (this.closed) {
            this.discard(entry.connection);
            continue;
          }
          this.busy.add(entry.connection);
          return entry.connection;
        }
        this.options.logger?.debug(
          { connection: entry.connection.id },
          'sftp: dropping a dead pooled connection',
        );
        this.discard(entry.connection);
        continue;
      }
      if (this.open < this.options.max) {
        this.open += 1;
        let connection: SftpConnection;
        try {
          connection = await this.options.connect(signal);
        } catch (error) {
          this.open -= 1;
          this.wakeOne();
          throw error;
        }
        this.created += 1;
        if (this.closed) {
          this.discard(connection);
          throw this.closedError();
        }
        this.busy.add(connection);
        return connection;
      }
      if (options?.wait === false) return undefined;
      await this.waitForTurn(signal);
    }
  }

  /** Give a connection back; a broken one (or `broken: true`) is closed instead. */
  release(connection: SftpConnection, broken = false): void {
    if (!this.busy.delete(connection)) return;
    if (broken || connection.facts.closed || this.closed) {
      this.discard(connection);
      return;
    }
    const entry: IdleEntry = { connection, timer: undefined };
    if (this.options.idleTimeoutMs > 0) {
      entry.timer = setTimeout(() => {
        const index = this.idle.indexOf(entry);
        if (index === -1) return;
        this.idle.splice(index, 1);
        this.discard(connection);
      }, this.options.idleTimeoutMs);
      entry.timer.unref();
    }
    this.idle.push(entry);
    this.wakeOne();
  }

  /** Close every connection (busy ones too: their requests fail) and refuse new checkouts. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    const endings: Promise<void>[] = [];
    for (const entry of this.idle.splice(0)) {
      clearTimeout(entry.timer);
      this.open -= 1;
      endings.push(entry.connection.end());
    }
    for (const connection of this.busy) connection.destroy();
    await Promise.all(endings);
  }

  private discard(connection: SftpConnection): void {
    this.open -= 1;
    void connection.end();
    this.wakeOne();
  }

  /** One round trip within `checkTimeoutMs`; an abort ends the wait at once (the connection is then dropped). */
  private async healthy(connection: SftpConnection, signal?: AbortSignal): Promise<boolean> {
    if (connection.facts.closed) return false;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const check = connection.client.realPath('.').then(() => true);
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.options.checkTimeoutMs);
        onAbort = () => resolve(false);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      return await Promise.race([check, timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private wakeOne(): void {
    const [first] = this.waiters;
    if (!first) return;
    this.waiters.delete(first);
    first();
  }

  private waitForTurn(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(wake);
        reject(abortError(signal));
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private closedError(): UploadError {
    return new UploadError('DESTINATION_ERROR', 'The SFTP destination is closed.', { stage: 'deliver' });
  }
}
