import { describe, expect, it } from 'vitest';
import { type ConnectionFacts, operationError } from '../src/sftp/errors.js';

const open = (): ConnectionFacts => ({ endpoint: '127.0.0.1:2222', closed: false });

function withCode(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe('sftp operationError', () => {
  // A killed server can fail the pending write before the client emits `close`:
  // these are the errors ssh2 and ssh2-sftp-client raise in that window.
  it.each([
    ['ssh2 answering pending requests of an ended channel', withCode('No response from server')],
    ['ssh2-sftp-client wrapping it', withCode('fastPut: No response from server', 'ERR_GENERIC_CLIENT')],
    ['an end event during the call', withCode('_fastPut: Unexpected end event', 'ERR_GENERIC_CLIENT')],
    ['a close event during the call', withCode('_fastPut: Unexpected close event', 'ERR_GENERIC_CLIENT')],
    [
      'a call after the client dropped its channel',
      withCode('rename: No SFTP connection available', 'ERR_NOT_CONNECTED'),
    ],
    ['a request on a channel we marked closed', withCode('The SFTP connection is closed.')],
    [
      'a lost connection found in the cause',
      Object.assign(new Error('upload failed'), { cause: withCode('No response from server') }),
    ],
  ])('maps %s to a retryable CONNECTION_ERROR while the connection still looks open', (_, error) => {
    const mapped = operationError(error, open(), 'upload job.zip');
    expect(mapped).toMatchObject({ code: 'CONNECTION_ERROR', retryable: true, stage: 'deliver' });
    expect(mapped.message).toContain('dropped');
  });

  it('keeps a server-side failure a DESTINATION_ERROR', () => {
    const mapped = operationError(withCode('Failure', undefined), open(), 'rename job.zip');
    expect(mapped).toMatchObject({ code: 'DESTINATION_ERROR', stage: 'deliver' });
  });

  it('maps permission denied to ACCESS_DENIED, not retried', () => {
    const denied = Object.assign(new Error('Permission denied'), { code: 3 });
    expect(operationError(denied, open(), 'open job.zip')).toMatchObject({
      code: 'ACCESS_DENIED',
      retryable: false,
    });
  });

  it('maps any failure after close to CONNECTION_ERROR', () => {
    const facts = { ...open(), closed: true };
    expect(operationError(withCode('Failure'), facts, 'write')).toMatchObject({
      code: 'CONNECTION_ERROR',
      retryable: true,
    });
  });
});
