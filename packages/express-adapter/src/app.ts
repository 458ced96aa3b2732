import type { UploadPipeline } from '@ncr-upload/core';
import express, { type Express, type RequestHandler } from 'express';
import { defaultLogger, type UploadRouterOptions } from './options.js';
import { HttpProblem, problemHandler } from './problem.js';
import { requestContext } from './request-context.js';
import { createUploadRouter, type UploadRouter } from './router.js';
import { takeSubmissionFirstInApp } from './submission-first.js';

export interface CorsOptions {
  /** Allowed origin(s); `'*'` allows any. No default: CORS is off unless configured. */
  origin: string | string[];
}

export interface UploadAppOptions extends UploadRouterOptions {
  /** Cross-origin access. Default: off (no CORS headers). */
  cors?: CorsOptions;
  /** Express `trust proxy` setting, for client addresses behind a load balancer. Default: false. */
  trustProxy?: boolean | number | string;
}

export interface UploadApp extends Express {
  /** The mounted router. */
  readonly uploadRouter: UploadRouter;
  /** Stop listening to the pipeline and end open event streams. */
  close(): void;
}

function cors(options: CorsOptions): RequestHandler {
  const allowed = new Set(Array.isArray(options.origin) ? options.origin : [options.origin]);
  return (request, response, next) => {
    const origin = request.get('origin');
    if (origin && (allowed.has('*') || allowed.has(origin))) {
      response.setHeader('Access-Control-Allow-Origin', allowed.has('*') ? '*' : origin);
      response.setHeader('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After');
      response.append('Vary', 'Origin');
      if (request.method === 'OPTIONS' && request.get('access-control-request-method')) {
        response.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
        response.setHeader(
          'Access-Control-Allow-Headers',
          'Content-Type, Authorization, X-API-Key, X-Request-Id',
        );
        response.setHeader('Access-Control-Max-Age', '600');
        response.status(204).end();
        return;
      }
    }
    next();
  };
}

/**
 * A standalone Express app serving the upload API at `/`: request ids, one log
 * line per request, CORS when configured, problem-details 404 and errors.
 * Listen with `app.listen(port, host)`.
 */
export function createUploadApp(pipeline: UploadPipeline, options: UploadAppOptions = {}): UploadApp {
  const logger = options.logger ?? defaultLogger();
  const retryAfterSeconds = options.retryAfterSeconds ?? 10;
  const app = express();
  app.disable('x-powered-by');
  // No ETag on the API's answers: they change on every poll, and hashing each body costs CPU
  // on the submission path for nothing. The console's assets carry their own ETag.
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy ?? false);
  const context = requestContext({ logger, logRequests: true });
  app.use(context);
  if (options.cors) app.use(cors(options.cors));
  const router = createUploadRouter(pipeline, { ...options, logger, logRequests: false });
  app.use(router);
  const notFound: RequestHandler = (request, _response, next) => {
    next(new HttpProblem(404, 'not-found', `No route for ${request.method} ${request.path}.`));
  };
  app.use(notFound);
  const problems = problemHandler({ logger, retryAfterSeconds });
  app.use(problems);
  if (!options.cors) takeSubmissionFirstInApp(app, { context, router, notFound, problems });
  return Object.assign(app, { uploadRouter: router, close: () => router.close() });
}
