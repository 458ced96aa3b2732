import { Transform } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { type Destination, type Storage, UploadError } from '@ncr-upload/core';

/** Storage whose streams trickle: 4 KiB pieces, each after `msPerChunk` (for cancel and timeout tests). */
export function slowStorage(inner: Storage, msPerChunk: number): Storage {
  return {
    async open(file, options) {
      const opened = await inner.open(file, options);
      const slow = new Transform({
        highWaterMark: 1024,
        transform(chunk: Buffer, _encoding, callback) {
          const pieces = async () => {
            for (let offset = 0; offset < chunk.length; offset += 4096) {
              await delay(msPerChunk);
              this.push(chunk.subarray(offset, offset + 4096));
            }
          };
          pieces().then(() => callback(), callback);
        },
      });
      opened.stream.on('error', (error) => slow.destroy(error));
      return { ...opened, stream: opened.stream.pipe(slow) };
    },
  };
}

/** Destination that fails with a retryable connection error the first `failures` times. */
export function flakyDestination(inner: Destination, failures: number): Destination & { calls: number } {
  const flaky = {
    calls: 0,
    async upload(...args: Parameters<Destination['upload']>) {
      flaky.calls += 1;
      if (flaky.calls <= failures) {
        throw new UploadError('CONNECTION_ERROR', 'The connection to the destination dropped.', {
          retryable: true,
        });
      }
      return inner.upload(...args);
    },
  };
  return flaky;
}
