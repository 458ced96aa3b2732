import { isAbortError, isNetworkError, isUploadError, UploadError } from '../errors.js';

/** What the connection saw, to tell a refused host key or login from a network failure. */
export interface ConnectionFacts {
  /** `host:port`, for messages. */
  endpoint: string;
  /** Set by the host verifier when the key did not match. */
  hostKeyMismatch?: { expected: string; received: string };
  /** The last error the underlying ssh2 client emitted (it carries `level`). */
  lastError?: unknown;
  /** True once the SSH connection closed. */
  closed: boolean;
}

const SFTP_STATUS: Record<number, string> = {
  1: 'end of file',
  2: 'no such file',
  3: 'permission denied',
  4: 'failure',
  5: 'bad message',
  8: 'operation unsupported',
};

function levelOf(error: unknown): string | undefined {
  const level = (error as { level?: unknown } | undefined)?.level;
  return typeof level === 'string' ? level : undefined;
}

/**
 * Messages that mean the connection went away under an operation. A dropped
 * connection can fail the pending request before the client sees `close`
 * (ssh2 answers pending requests with "No response from server" when the
 * channel ends; ssh2-sftp-client reports "Unexpected end/close event"), so the
 * message is checked as well as the connection state.
 */
const CONNECTION_LOST =
  /no response from server|unexpected (?:end|close) event|no sftp connection available|the sftp connection is closed/i;

function lostConnection(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    if (codeOf(current) === 'ERR_NOT_CONNECTED') return true;
    if (CONNECTION_LOST.test(String((current as { message?: unknown }).message))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

/** The error to throw when the signal aborted: its reason when that is an UploadError (e.g. TIMEOUT), else CANCELLED. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): UploadError {
  const reason: unknown = signal?.reason;
  if (isUploadError(reason)) return reason;
  return new UploadError('CANCELLED', 'The upload was cancelled.', {
    stage: 'deliver',
    cause: cause ?? reason,
  });
}

/** Map a failure to connect (handshake, host key, login) to an UploadError. */
export function connectError(error: unknown, facts: ConnectionFacts, signal?: AbortSignal): UploadError {
  if (signal?.aborted) return abortError(signal, error);
  if (isUploadError(error)) return error;
  if (facts.hostKeyMismatch) {
    const { expected, received } = facts.hostKeyMismatch;
    return new UploadError(
      'HOST_KEY_MISMATCH',
      `The SFTP server ${facts.endpoint} presented host key ${received}, but ${expected} is pinned. If the server's key changed on purpose, update hostFingerprint; otherwise someone may be intercepting the connection.`,
      { stage: 'deliver', retryable: false, cause: error, details: { expected, received } },
    );
  }
  const raw = facts.lastError ?? error;
  const level = levelOf(raw);
  if (level === 'client-authentication' || level === 'agent') {
    return new UploadError(
      'ACCESS_DENIED',
      `The SFTP server ${facts.endpoint} refused the login (authentication failed). Check username and key or password.`,
      { stage: 'deliver', retryable: false, cause: error },
    );
  }
  if (
    /cannot parse privatekey|encrypted private key detected|passphrase/i.test(String((raw as Error)?.message))
  ) {
    return new UploadError(
      'CONFIG_INVALID',
      'The SFTP private key could not be read: check its format (PEM or OpenSSH) and passphrase.',
      { stage: 'deliver', retryable: false, cause: error },
    );
  }
  // A connection closed before the SSH handshake (server restarting, connection limit, a proxy
  // dropping it) is a network failure: another attempt may connect.
  const lostEarly = /connection lost before handshake/i.test(String((raw as Error)?.message));
  if ((level === 'handshake' || level === 'protocol') && !lostEarly) {
    return new UploadError(
      'DESTINATION_ERROR',
      `The SSH handshake with ${facts.endpoint} failed (no common algorithm or protocol error).`,
      { stage: 'deliver', retryable: false, cause: error },
    );
  }
  const what = codeOf(raw);
  const timeout = level === 'client-timeout';
  return new UploadError(
    'CONNECTION_ERROR',
    `Could not connect to the SFTP server ${facts.endpoint}${timeout ? ' (timed out)' : typeof what === 'string' ? ` (${what})` : ''}; it will be retried.`,
    { stage: 'deliver', retryable: true, cause: error },
  );
}

/** Map a failure of an SFTP operation on an open connection. */
export function operationError(
  error: unknown,
  facts: ConnectionFacts,
  action: string,
  signal?: AbortSignal,
): UploadError {
  if (signal?.aborted || isAbortError(error)) return abortError(signal, error);
  if (isUploadError(error)) return error;
  if (facts.closed || isNetworkError(error) || isNetworkError(facts.lastError) || lostConnection(error)) {
    return new UploadError(
      'CONNECTION_ERROR',
      `The connection to the SFTP server ${facts.endpoint} dropped while trying to ${action}; it will be retried.`,
      { stage: 'deliver', retryable: true, cause: error },
    );
  }
  const code = codeOf(error);
  if (code === 3 || code === 'EACCES') {
    return new UploadError(
      'ACCESS_DENIED',
      `The SFTP server ${facts.endpoint} denied permission to ${action}.`,
      {
        stage: 'deliver',
        retryable: false,
        cause: error,
      },
    );
  }
  const status = typeof code === 'number' ? SFTP_STATUS[code] : undefined;
  return new UploadError(
    'DESTINATION_ERROR',
    `The SFTP server ${facts.endpoint} failed to ${action}${status ? ` (${status})` : ''}.`,
    { stage: 'deliver', retryable: code !== 8 && code !== 2 && code !== 'ERR_BAD_PATH', cause: error },
  );
}
