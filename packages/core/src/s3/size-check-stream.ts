import { Transform, type TransformCallback } from 'node:stream';
import { UploadError } from '../errors.js';

/**
 * Passes bytes through and fails with `SIZE_MISMATCH` (retryable) when the
 * total differs from `expected`: more bytes fail at once, fewer at the end.
 */
export class SizeCheckStream extends Transform {
  received = 0;

  constructor(
    private readonly expected: number | undefined,
    private readonly describe: string,
  ) {
    super();
  }

  mismatch(reason?: string, cause?: unknown): UploadError {
    return new UploadError(
      'SIZE_MISMATCH',
      `${this.describe}: received ${this.received} of the ${this.expected} bytes announced${reason ? ` (${reason})` : ''}; it can be retried.`,
      { retryable: true, cause, details: { expected: this.expected, received: this.received } },
    );
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.expected !== undefined && this.received > this.expected) {
      callback(this.mismatch('more bytes than announced'));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.received !== this.expected) {
      callback(this.mismatch('the stream ended early'));
      return;
    }
    callback();
  }
}
