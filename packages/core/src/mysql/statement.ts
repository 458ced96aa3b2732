import type { ExecuteValues, Pool, PoolConnection } from 'mysql2/promise';
import { UploadError } from '../errors.js';

type Stage = 'resolve' | 'report';

function cancelled(signal: AbortSignal, stage: Stage): UploadError {
  const reason: unknown = signal.reason;
  if (reason instanceof UploadError) return reason;
  return new UploadError('CANCELLED', 'The task was cancelled while the database answered.', {
    stage,
    cause: reason,
  });
}

/** Settle with `promise`, or reject as soon as `signal` aborts (the promise is left to settle on its own). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, stage: Stage): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(cancelled(signal, stage));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled(signal, stage));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Run one statement with named placeholders. With a signal it runs on a
 * connection of its own, so an abort can stop it on the server too: `KILL
 * QUERY <thread id>` is sent over another connection of the pool. The caller
 * gets its rejection at once; the interrupted connection is destroyed once its
 * statement has ended, never handed back, so a late kill can never hit a later
 * statement. Without the kill, an aborted statement would run to its end and
 * hold a connection meanwhile. When the kill is refused (the user may not kill
 * its own queries), the statement still runs to its end.
 */
export async function runStatement(
  pool: Pool,
  sql: string,
  parameters: ExecuteValues,
  signal: AbortSignal | undefined,
  stage: Stage,
): Promise<unknown> {
  const statement = { sql, namedPlaceholders: true };
  if (!signal) return (await pool.execute(statement, parameters))[0];
  if (signal.aborted) throw cancelled(signal, stage);
  const pending = pool.getConnection();
  let connection: PoolConnection;
  try {
    connection = await abortable(pending, signal, stage);
  } catch (error) {
    pending.then(
      (late) => late.release(),
      () => undefined,
    );
    throw error;
  }
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    pool.query(`KILL QUERY ${Number(connection.threadId)}`).catch(() => undefined);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const running = connection.execute(statement, parameters);
  try {
    return (await abortable(running, signal, stage))[0];
  } finally {
    signal.removeEventListener('abort', onAbort);
    // After a kill the connection goes once its statement has ended, never back to the pool.
    if (interrupted)
      running.then(
        () => connection.destroy(),
        () => connection.destroy(),
      );
    else connection.release();
  }
}
