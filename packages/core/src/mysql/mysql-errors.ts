import { isNetworkError, type Stage, UploadError } from '../errors.js';

/** Errors that mean the connection, not the statement, failed: another attempt may succeed. */
const TRANSIENT_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_SHUTDOWN_COMPLETE',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  'ETIMEDOUT',
]);

const ACCESS_CODES = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
]);

interface MysqlErrorLike {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  sqlMessage?: unknown;
  fatal?: unknown;
}

/**
 * Turn a mysql2 error into an UploadError: lost or refused connections are
 * retryable CATALOG_ERRORs, SQL errors are not (their MySQL code and message are
 * kept: they name a table or column, never a password), refused credentials
 * are ACCESS_DENIED. The connection string never appears.
 */
export function toCatalogError(error: unknown, doing: string, stage: Stage = 'resolve'): UploadError {
  const mysql = (error ?? {}) as MysqlErrorLike;
  const code = typeof mysql.code === 'string' ? mysql.code : undefined;
  const errno = typeof mysql.errno === 'number' ? mysql.errno : undefined;
  const label = code ? ` (${code}${errno === undefined ? '' : ` ${errno}`})` : '';
  const details = {
    ...(code ? { mysql_code: code } : {}),
    ...(errno === undefined ? {} : { errno }),
    ...(typeof mysql.sqlState === 'string' ? { sql_state: mysql.sqlState } : {}),
  };
  if (code && ACCESS_CODES.has(code)) {
    return new UploadError(
      'ACCESS_DENIED',
      `The database refused access while ${doing}${label}; check the user and its grants.`,
      {
        stage,
        cause: error,
        details,
      },
    );
  }
  // Server errors (ER_*) during the handshake are fatal too, but another attempt will not fix them.
  const lostConnection = mysql.fatal === true && !code?.startsWith('ER_');
  if ((code && TRANSIENT_CODES.has(code)) || isNetworkError(error) || lostConnection) {
    return new UploadError(
      'CATALOG_ERROR',
      `The database connection failed while ${doing}${label}; it will be retried.`,
      {
        stage,
        retryable: true,
        cause: error,
        details,
      },
    );
  }
  if (typeof mysql.sqlMessage === 'string') {
    const text = mysql.sqlMessage.length > 300 ? `${mysql.sqlMessage.slice(0, 300)}…` : mysql.sqlMessage;
    return new UploadError('CATALOG_ERROR', `The database rejected the SQL while ${doing}${label}: ${text}`, {
      stage,
      cause: error,
      details,
    });
  }
  return new UploadError('CATALOG_ERROR', `The database failed while ${doing}${label}.`, {
    stage,
    cause: error,
    details,
  });
}
