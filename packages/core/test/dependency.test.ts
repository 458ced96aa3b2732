import { describe, expect, it } from 'vitest';
import { boundedCall } from '../src/dependency.js';
import { UploadError } from '../src/errors.js';

async function failure(call: () => Promise<unknown>, timeoutMs = 1000): Promise<UploadError> {
  const error = await boundedCall('status store', call, timeoutMs).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof UploadError)) throw new Error(`expected an UploadError, got ${String(error)}`);
  return error;
}

describe('boundedCall', () => {
  it('passes an answer through', async () => {
    expect(await boundedCall('queue', async () => 42, 1000)).toBe(42);
  });

  it('names a client message known to be secret-free, as DEPENDENCY_UNAVAILABLE, retryable, with the cause', async () => {
    const cause = new Error('Command timed out');
    const error = await failure(() => Promise.reject(cause));
    expect(error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      'The status store is unavailable: it failed (Error: a command timed out). Retry shortly; check that Redis (or the status store) is reachable.',
    );
    expect((await failure(() => Promise.reject(new Error('Connection is closed.')))).message).toContain(
      'it failed (Error: the connection is closed)',
    );
    expect(
      (
        await failure(() =>
          Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
        )
      ).message,
    ).toContain('it failed (Error: not connected)');
  });

  it('keeps any other message out (it may carry a secret): a code, else the class name', async () => {
    const secret = new Error('could not reach redis://:hunter2@cache.internal:6379');
    const error = await failure(() => Promise.reject(secret));
    expect(error.message).toContain('it failed (Error)');
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('cache.internal');
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED' });
    expect((await failure(() => Promise.reject(refused))).message).toContain('it failed (ECONNREFUSED)');
    expect((await failure(() => Promise.reject(new TypeError('x is not a function')))).message).toContain(
      'it failed (TypeError)',
    );
  });

  it('answers within the timeout when the call hangs', async () => {
    const error = await failure(() => new Promise(() => undefined), 30);
    expect(error.message).toContain('it did not answer within 30 ms');
  });

  it('passes an UploadError through unchanged', async () => {
    const own = new UploadError('NOT_FOUND', 'No task abc.', { stage: 'admission' });
    expect(await failure(() => Promise.reject(own))).toBe(own);
  });
});
