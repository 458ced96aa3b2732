import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Echo a well-formed `X-Request-Id` or make one; log one line per request when asked
 * (built only when the logger's level takes `info`).
 */
export function requestContext(options: { logger: Logger; logRequests: boolean }): RequestHandler {
  const { logger, logRequests } = options;
  return (request, response, next) => {
    const locals = response.locals;
    if (!locals.requestId) {
      const incoming = request.headers['x-request-id'];
      const requestId = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
      locals.requestId = requestId;
      response.setHeader('X-Request-Id', requestId);
    }
    if (logRequests && !locals.requestLogged && logger.isLevelEnabled('info')) {
      locals.requestLogged = true;
      const started = performance.now();
      response.on('finish', () => {
        const url = request.originalUrl;
        const query = url.indexOf('?');
        logger.info(
          {
            request_id: locals.requestId,
            method: request.method,
            // The path only: query strings may carry values that do not belong in logs.
            path: query < 0 ? url : url.slice(0, query),
            status: response.statusCode,
            duration_ms: performance.now() - started,
          },
          'request',
        );
      });
    }
    next();
  };
}
