import type { SftpConnection } from './connection.js';
import { operationError } from './errors.js';

/** The parts of ssh2's raw SFTP channel the streamed upload uses. */
interface RawSftp {
  open(path: string, flags: string, callback: (error: Error | undefined, handle: Buffer) => void): void;
  write(
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (error: Error | undefined) => void,
  ): void;
  close(handle: Buffer, callback: (error: Error | undefined) => void): void;
  /** Largest write the server accepts (from limits@openssh.com); a larger one is split and sent serially. */
  _maxWriteLen?: number;
}

/** The write size used when the server announces a larger limit and none is configured. */
const LARGEST_DEFAULT_WRITE = 256 * 1024;
/** What every SFTP server accepts; `uploadConcurrency` counts requests of this size. */
const SMALL_WRITE = 32 * 1024;

function rawSftp(connection: SftpConnection): RawSftp | undefined {
  return (connection.client as unknown as { sftp?: RawSftp }).sftp;
}

/**
 * Bytes per write request and requests in flight for an upload on
 * `connection`: the configured size, else the largest write the server
 * announced (at most 256 KiB), never above the server's limit (ssh2 would
 * split a larger one and send the parts one after another). Larger requests
 * are fewer in flight: the bytes in flight stay `concurrency × 32 KiB`.
 */
export function writeShape(
  connection: SftpConnection,
  configured: { chunkSize: number | undefined; concurrency: number },
): { chunkSize: number; concurrency: number } {
  const limit = rawSftp(connection)?._maxWriteLen;
  const wanted = configured.chunkSize ?? (limit ? LARGEST_DEFAULT_WRITE : SMALL_WRITE);
  const chunkSize = Math.max(512, limit ? Math.min(wanted, limit) : wanted);
  const concurrency = Math.max(
    Math.min(2, configured.concurrency),
    Math.min(configured.concurrency, Math.floor((configured.concurrency * SMALL_WRITE) / chunkSize)),
  );
  return { chunkSize, concurrency };
}

export interface PipelinedWriterOptions {
  /** Write requests in flight at most. */
  concurrency: number;
  /** Bytes per write request (at most what the server accepts: see `writeShape`). */
  chunkSize: number;
  /** Called with the bytes the server acknowledged so far. */
  onAcknowledged?: (bytes: number) => void;
}

/**
 * Writes a remote file from chunks as they come, with many SFTP write
 * requests in flight (like `fastPut`, but from a stream): each chunk is cut
 * into requests at increasing offsets, and `write` resolves as soon as fewer
 * than `concurrency` requests are pending, so a fast producer waits for the
 * server and memory stays at most `concurrency × chunkSize`.
 */
export class PipelinedWriter {
  private position = 0;
  private acknowledged = 0;
  private pending = 0;
  private failure: unknown;
  private waiters: (() => void)[] = [];
  private readonly pieceSize: number;

  private constructor(
    private readonly connection: SftpConnection,
    private readonly raw: RawSftp,
    private readonly handle: Buffer,
    private readonly path: string,
    private readonly options: PipelinedWriterOptions,
  ) {
    this.pieceSize = options.chunkSize;
  }

  /** Open (create or truncate) `path` for writing. */
  static async open(
    connection: SftpConnection,
    path: string,
    options: PipelinedWriterOptions,
  ): Promise<PipelinedWriter> {
    const raw = rawSftp(connection);
    if (!raw) throw operationError(new Error('no SFTP channel'), connection.facts, `open ${path}`);
    const handle = await new Promise<Buffer>((resolve, reject) =>
      raw.open(path, 'w', (error, opened) => (error ? reject(error) : resolve(opened))),
    ).catch((error: unknown) => {
      throw operationError(error, connection.facts, `open ${path}`);
    });
    return new PipelinedWriter(connection, raw, handle, path, options);
  }

  /** Bytes handed to `write` so far. */
  get bytesWritten(): number {
    return this.position;
  }

  /** Queue `chunk` at the next offset; resolves when a request slot is free. Throws the first failed write. */
  async write(chunk: Buffer): Promise<void> {
    if (this.connection.facts.closed) this.failure ??= new Error('The SFTP connection is closed.');
    this.throwIfFailed();
    for (let offset = 0; offset < chunk.length; offset += this.pieceSize) {
      while (this.pending >= this.options.concurrency) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        this.throwIfFailed();
      }
      const length = Math.min(this.pieceSize, chunk.length - offset);
      this.pending += 1;
      this.raw.write(this.handle, chunk, offset, length, this.position, (error) => {
        this.pending -= 1;
        if (error) this.failure ??= error;
        else {
          this.acknowledged += length;
          this.options.onAcknowledged?.(this.acknowledged);
        }
        this.wake();
      });
      this.position += length;
    }
  }

  /** Wait for every request, then close the handle. Throws the first failed write. */
  async finish(): Promise<void> {
    await this.drain();
    this.throwIfFailed();
    await this.close();
  }

  /** Wait for the requests in flight and close the handle; never throws. */
  async discard(): Promise<void> {
    await this.drain();
    await this.close().catch(() => undefined);
  }

  private async close(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.raw.close(this.handle, (error) => (error ? reject(error) : resolve())),
    ).catch((error: unknown) => {
      throw operationError(error, this.connection.facts, `close ${this.path}`);
    });
  }

  private async drain(): Promise<void> {
    while (this.pending > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const resolve of waiting) resolve();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      throw operationError(this.failure, this.connection.facts, `write ${this.path}`);
    }
  }
}
