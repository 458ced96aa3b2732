import { once } from 'node:events';
import { createReadStream, type ReadStream } from 'node:fs';
import { createDeflateRaw, type DeflateRaw } from 'node:zlib';
import { crc32 } from './crc32.js';

export interface DeflatingEntryOptions {
  /** Deflate level 1–9. */
  level: number;
  /** Bytes read from the file at a time. */
  readSize: number;
  /** Called with each piece of file data read (before compression), for progress. */
  onFileBytes?: (bytes: number) => void;
}

/**
 * One local file deflated by zlib on the thread pool, its CRC-32 and sizes
 * counted as it is read. It starts reading and deflating when it is made.
 * With `holdUpTo`, it goes on before its turn in the zip, keeping its
 * compressed bytes (at most that many; then it pauses) until `drainTo` hands
 * them on and takes the rest straight through: while the file before it is
 * written, this one is deflated on another thread.
 */
export class DeflatingEntry {
  crc = 0;
  uncompressed = 0;
  compressed = 0;
  private readonly source: ReadStream;
  private readonly deflater: DeflateRaw;
  private readonly chunks: AsyncIterator<Buffer>;
  private readonly feeding: Promise<void>;
  private readonly held: Buffer[] = [];
  /** Resolves true when the deflater ended while its output was held. */
  private holding: Promise<boolean> | null = null;

  constructor(path: string, options: DeflatingEntryOptions) {
    this.source = createReadStream(path, { highWaterMark: options.readSize });
    this.deflater = createDeflateRaw({ level: options.level });
    this.chunks = this.deflater[Symbol.asyncIterator]();
    const { source, deflater } = this;
    this.feeding = (async () => {
      for await (const chunk of source) {
        const buffer = chunk as Buffer;
        this.crc = crc32(buffer, this.crc);
        this.uncompressed += buffer.length;
        options.onFileBytes?.(buffer.length);
        if (!deflater.write(buffer)) await once(deflater, 'drain');
      }
      deflater.end();
    })();
    // A failed read ends the deflater with the error, which `drainTo` then throws.
    this.feeding.catch((error: unknown) => deflater.destroy(error as Error));
  }

  /** Keep deflating ahead of this entry's turn, holding at most `bytes` of output. */
  holdUpTo(bytes: number): void {
    this.holding = (async () => {
      let heldBytes = 0;
      while (heldBytes < bytes) {
        const next = await this.chunks.next();
        if (next.done) return true;
        this.held.push(next.value);
        heldBytes += next.value.length;
      }
      return false;
    })();
    // Its error is thrown by `drainTo`; an entry discarded before its turn has no one to throw it to.
    this.holding.catch(() => undefined);
  }

  /** Hand every compressed byte to `put`, in order, waiting for each; resolves once the file is read and deflated. */
  async drainTo(put: (chunk: Buffer) => Promise<void>): Promise<void> {
    try {
      const ended = this.holding ? await this.holding : false;
      for (const chunk of this.held.splice(0)) {
        this.compressed += chunk.length;
        await put(chunk);
      }
      if (!ended) {
        for (;;) {
          const next = await this.chunks.next();
          if (next.done) break;
          this.compressed += next.value.length;
          await put(next.value);
        }
      }
      await this.feeding;
    } finally {
      this.destroy();
    }
  }

  /** Stop reading and deflating; idempotent. */
  destroy(): void {
    this.source.destroy();
    this.deflater.destroy();
    this.held.length = 0;
  }
}
