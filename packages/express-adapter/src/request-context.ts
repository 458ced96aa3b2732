import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echo a well-formed `X-Request-Id` or make one; log one line per request when asked. */
export function requestContext(options: { logger: Logger; logRequests: boolean }): RequestHandler {
  return (request, response, next) => {
    if (!response.locals.requestId) {
      const incoming = request.get('x-request-id');
      const requestId = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
      response.locals.requestId = requestId;
      response.setHeader('X-Request-Id', requestId);
    }
    if (options.logRequests && !response.locals.requestLogged) {
      response.locals.requestLogged = true;
      const started = process.hrtime.bigint();
      response.on('finish', () => {
        options.logger.info(
          {
            request_id: response.locals.requestId,
            method: request.method,
            // The path only: query strings may carry values that do not belong in logs.
            path: request.originalUrl.split('?')[0],
            status: response.statusCode,
            duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
          },
          'request',
        );
      });
    }
    next();
  };
}
