import type { UploadPipeline } from '@ncr-upload/core';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { requireApiKey } from './auth.js';
import { createEventStreams } from './events.js';
import { createUploadMetrics, type UploadMetrics } from './metrics.js';
import { createOpenApiBuilder } from './openapi.js';
import { resolveOptions, type UploadRouterOptions } from './options.js';
import { redocDirectory, swaggerUiDirectory } from './pages.js';
import { HttpProblem, problemHandler } from './problem.js';
import { requestContext } from './request-context.js';
import type { RouteSpec } from './route-spec.js';
import { consoleRoutes } from './routes-console.js';
import { jobRoutes } from './routes-jobs.js';
import { systemRoutes } from './routes-system.js';
import { takeSubmissionFirst } from './submission-first.js';
import { leanSubmitHandler } from './submit-route.js';

/** The submission, registered first and on its lean path (submit-route.ts). */
const isSubmission = (route: RouteSpec) => route.method === 'post' && route.path === '/process-job';

/** What `createUploadRouter` returns: an Express router plus what it holds. */
export interface UploadRouter extends Router {
  /** Every API route (method, path, auth group), as documented in `/openapi.json`. */
  readonly routeSpecs: readonly RouteSpec[];
  /** The Prometheus registry behind `/metrics`, or null when metrics are off. */
  readonly metricsRegistry: UploadMetrics['registry'] | null;
  /** Stop listening to the pipeline and end open `/events` streams. Does not close the pipeline. */
  close(): void;
}

/** True when the request carries a body (a non-zero Content-Length or a chunked one). */
const hasBody = (request: Request) =>
  request.headers['transfer-encoding'] !== undefined ||
  (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0');

const requireBody: RequestHandler = (request, _response, next) => {
  if (request.body === undefined) {
    if (hasBody(request)) {
      // A body the JSON parser skipped: its Content-Type is not JSON.
      return next(
        new HttpProblem(
          415,
          'unsupported-media-type',
          'The request body must be JSON (Content-Type: application/json).',
        ),
      );
    }
    return next(
      new HttpProblem(400, 'invalid-request', 'A JSON body is required (Content-Type: application/json).', {
        errors: [{ field: 'body', message: 'a JSON body is required' }],
      }),
    );
  }
  next();
};

/**
 * The HTTP API of the original service (and more) for one pipeline, as a
 * router a host app mounts at any prefix: `app.use('/uploads', router)`.
 * It parses its own JSON bodies and answers its own errors as problem details;
 * requests it has no route for fall through to the host.
 */
export function createUploadRouter(
  pipeline: UploadPipeline,
  options: UploadRouterOptions = {},
): UploadRouter {
  const resolved = resolveOptions(options);
  const router = express.Router();
  const metrics =
    resolved.metrics === false
      ? null
      : createUploadMetrics(pipeline, {
          prefix: resolved.metricsPrefix,
          ...(resolved.metrics === true ? {} : { registry: resolved.metrics }),
        });
  const events = createEventStreams(pipeline, { heartbeatMs: resolved.heartbeatMs });
  const openapi = createOpenApiBuilder(resolved);
  const context = { pipeline, options: resolved, events, metrics, openapi };
  const routes = [...systemRoutes(context), ...jobRoutes(context), ...consoleRoutes(context)];
  openapi.setRoutes(routes);

  const authenticate = requireApiKey(resolved.apiKeys);
  const json = express.json({
    limit: resolved.bodyLimit,
    strict: false,
    type: ['application/json', 'application/*+json'],
  });

  const requestSetup = requestContext({ logger: resolved.logger, logRequests: resolved.logRequests });
  const problems = problemHandler({ logger: resolved.logger, retryAfterSeconds: resolved.retryAfterSeconds });
  let submit: RequestHandler | null = null;
  router.use(requestSetup);
  if (resolved.docs) {
    router.use('/docs/assets', express.static(swaggerUiDirectory(), { index: false, maxAge: '1h' }));
    router.use('/redoc/assets', express.static(redocDirectory(), { index: false, maxAge: '1h' }));
  }
  // The submission first: the most frequent request is matched before any other route is tried.
  for (const route of [...routes.filter(isSubmission), ...routes.filter((route) => !isSubmission(route))]) {
    const authenticator = resolved.auth[route.group] ? authenticate : null;
    if (isSubmission(route)) {
      const general = [json, requireBody, route.handler];
      submit = leanSubmitHandler({
        pipeline,
        path: route.path,
        bodyLimit: resolved.bodyLimit,
        metrics,
        authenticate: authenticator,
        general,
      });
      router.post(route.path, submit);
      continue;
    }
    const chain: RequestHandler[] = [];
    if (metrics) chain.push(observe(metrics, route));
    if (authenticator) chain.push(authenticator);
    if (route.body) chain.push(json, requireBody);
    chain.push(route.handler);
    router[route.method](route.path, ...chain);
  }
  router.use(methodNotAllowed(routes));
  router.use(problems);
  // The most frequent request skips the walk over the stack above (same middleware, same answers).
  if (submit) takeSubmissionFirst(router, { context: requestSetup, submit, problems });

  return Object.assign(router, {
    routeSpecs: routes,
    metricsRegistry: metrics?.registry ?? null,
    close() {
      metrics?.close();
      events.closeAll();
    },
  });
}

/** Express path (`/jobs/:task_id`) → a regular expression matching it the way Express does (any case, optional trailing slash). */
const pathPattern = (path: string) =>
  new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`, 'i');

/**
 * A known path asked with another method: 405 with `Allow`, as FastAPI answers (not 404).
 * OPTIONS passes on (CORS and Express answer it).
 */
function methodNotAllowed(routes: readonly RouteSpec[]): RequestHandler {
  const byPath = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const route of routes) {
    const entry = byPath.get(route.path) ?? { pattern: pathPattern(route.path), methods: new Set<string>() };
    entry.methods.add(route.method.toUpperCase());
    if (route.method === 'get') entry.methods.add('HEAD');
    byPath.set(route.path, entry);
  }
  return (request, _response, next) => {
    if (request.method === 'OPTIONS') return next();
    const allowed = new Set<string>();
    for (const { pattern, methods } of byPath.values()) {
      if (pattern.test(request.path)) for (const method of methods) allowed.add(method);
    }
    if (allowed.size === 0 || allowed.has(request.method)) return next();
    const allow = [...allowed].join(', ');
    next(
      new HttpProblem(405, 'method-not-allowed', `${request.method} is not allowed here; use ${allow}.`, {
        headers: { Allow: allow },
      }),
    );
  };
}

function observe(metrics: UploadMetrics, route: RouteSpec): RequestHandler {
  return (request, response, next) => {
    const started = process.hrtime.bigint();
    response.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeRequest(
        { method: request.method, route: route.path, status: response.statusCode },
        seconds,
      );
    });
    next();
  };
}
