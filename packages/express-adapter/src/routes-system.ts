import { type PipelineHealth, probeLiveness } from '@ncr-upload/core';
import { keyMatcher } from './auth.js';
import { redocPage, relativeBase, swaggerPage } from './pages.js';
import { loggableError } from './redact.js';
import type { RouteContext, RouteSpec } from './route-spec.js';
import {
  CeleryStatsSchema,
  EventQuerySchema,
  HealthResponseSchema,
  LivenessResponseSchema,
  MemoryStatsSchema,
  ProbeResponseSchema,
  RootResponseSchema,
  WorkerStatsSchema,
} from './schemas.js';
import { celeryStatsBody, healthBody, workerStatsBody } from './system-bodies.js';

const REDOC_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "font-src 'self' data:",
].join('; ');

/** Routes of the `monitoring`, `health` and `docs` auth groups. */
export function systemRoutes(context: RouteContext): RouteSpec[] {
  const { pipeline, options, events, metrics, openapi } = context;
  const hasKey = keyMatcher(options.apiKeys);
  const html = 'text/html';
  const workerStats = (path: string, operationId: string, summary: string): RouteSpec => ({
    method: 'get',
    path,
    group: 'monitoring',
    operationId,
    summary,
    tags: ['monitoring'],
    responses: { 200: { description: 'Queue and worker figures.', schema: WorkerStatsSchema } },
    async handler(_request, response) {
      response.json(workerStatsBody(await pipeline.stats()));
    },
  });
  const routes: RouteSpec[] = [
    {
      method: 'get',
      path: '/',
      group: 'docs',
      operationId: 'root',
      summary: 'Service name, version and links',
      tags: ['service'],
      responses: { 200: { description: 'About the API.', schema: RootResponseSchema } },
      handler(request, response) {
        const at = (path: string) => `${request.baseUrl}/${path}`;
        response.json({
          name: options.serviceName,
          version: options.serviceVersion,
          message: `${options.serviceName} is running.`,
          links: {
            docs: at('docs'),
            redoc: at('redoc'),
            openapi: at('openapi.json'),
            health: at('health'),
            dashboard: at('dashboard'),
            events: at('events'),
            metrics: at('metrics'),
          },
        });
      },
    },
    {
      method: 'get',
      path: '/health',
      group: 'health',
      operationId: 'health',
      summary: 'Health of the pipeline and its dependencies',
      description: '200 when healthy, 503 when any dependency check failed.',
      tags: ['health'],
      responses: {
        200: { description: 'Healthy.', schema: HealthResponseSchema },
        503: { description: 'Degraded (same body).', schema: HealthResponseSchema },
      },
      async handler(request, response) {
        let health: PipelineHealth;
        try {
          health = await pipeline.health();
        } catch (error) {
          options.logger.error(
            { err: loggableError(error), request_id: response.locals.requestId },
            'health check failed',
          );
          health = {
            status: 'degraded',
            checks: { pipeline: { status: 'error', message: 'The health check failed.' } },
            timestamp: new Date().toISOString(),
          };
        }
        // Details (hosts, buckets, folders) only for a caller with the key, or when no key is configured.
        const detailed = options.apiKeys.length === 0 || hasKey(request.headers);
        response.status(health.status === 'healthy' ? 200 : 503).json(healthBody(health, detailed));
      },
    },
    {
      method: 'get',
      path: '/ready',
      group: 'health',
      operationId: 'ready',
      summary: 'Readiness probe',
      description: '503 while the process drains (shutdown) or the pipeline cannot report.',
      tags: ['health'],
      responses: {
        200: { description: 'Ready.', schema: ProbeResponseSchema },
        503: { description: 'Draining or unavailable.', schema: ProbeResponseSchema },
      },
      async handler(_request, response) {
        const timestamp = new Date().toISOString();
        let status: 'ok' | 'draining' | 'unavailable' = 'ok';
        try {
          if (!options.readiness() || (await pipeline.stats()).draining) status = 'draining';
        } catch {
          status = 'unavailable';
        }
        response.status(status === 'ok' ? 200 : 503).json({ status, timestamp });
      },
    },
    {
      method: 'get',
      path: '/live',
      group: 'health',
      operationId: 'live',
      summary: 'Liveness probe: the process answers and, when it consumes the queue, still takes jobs',
      description:
        '503 when this process consumes the queue, jobs are waiting, none runs here and none was taken for `livenessStaleMs`: a worker connected but stuck.',
      tags: ['health'],
      responses: {
        200: { description: 'Alive.', schema: LivenessResponseSchema },
        503: { description: 'Consuming but no job taken for too long.', schema: LivenessResponseSchema },
      },
      async handler(_request, response) {
        const liveness = await probeLiveness(pipeline, options.livenessStaleMs);
        response.status(liveness.status === 'ok' ? 200 : 503).json(liveness);
      },
    },
    {
      method: 'get',
      path: '/memory-stats',
      group: 'monitoring',
      operationId: 'memoryStats',
      summary: 'Process and system memory, recommended concurrency, whether jobs are accepted',
      tags: ['monitoring'],
      responses: { 200: { description: 'Memory figures.', schema: MemoryStatsSchema } },
      handler(_request, response) {
        response.json(pipeline.memory());
      },
    },
    {
      method: 'get',
      path: '/celery-stats',
      group: 'monitoring',
      operationId: 'celeryStats',
      summary: "Workers' active, scheduled and reserved tasks in the shapes of Celery's inspect",
      description:
        'For clients of the original service: `active`, `scheduled` (tasks waiting for a retry), `reserved` and `stats`, each keyed by worker name. Counts are at `/worker-stats`.',
      tags: ['monitoring'],
      responses: { 200: { description: 'Per-worker lists.', schema: CeleryStatsSchema } },
      async handler(_request, response) {
        const [stats, active] = await Promise.all([pipeline.stats(), pipeline.listActive()]);
        response.json(celeryStatsBody(stats, active));
      },
    },
    workerStats('/worker-stats', 'workerStats', 'Queue and worker statistics'),
    {
      method: 'get',
      path: '/events',
      group: 'monitoring',
      operationId: 'events',
      summary: 'Live task events (Server-Sent Events)',
      description:
        'A `text/event-stream` of `event: task` messages whose data is a TaskEvent JSON object. Narrow it with task_id, job_id or batch_id.',
      tags: ['monitoring'],
      query: EventQuerySchema,
      responses: { 200: { description: 'The event stream.', contentType: 'text/event-stream' } },
      handler: events.handler,
    },
  ];
  if (metrics) {
    routes.push({
      method: 'get',
      path: '/metrics',
      group: 'monitoring',
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      tags: ['monitoring'],
      responses: { 200: { description: 'Prometheus text format.', contentType: 'text/plain' } },
      async handler(_request, response) {
        const body = await metrics.registry.metrics();
        response.setHeader('Content-Type', metrics.registry.contentType);
        response.send(body);
      },
    });
  }
  if (options.docs) {
    routes.push(
      {
        method: 'get',
        path: '/openapi.json',
        group: 'docs',
        operationId: 'openapi',
        summary: 'This OpenAPI 3.1 document',
        tags: ['service'],
        responses: { 200: { description: 'OpenAPI document.' } },
        handler(request, response) {
          response.json(openapi.document(request.baseUrl));
        },
      },
      {
        method: 'get',
        path: '/docs',
        group: 'docs',
        operationId: 'swaggerUi',
        summary: 'Swagger UI',
        tags: ['service'],
        responses: { 200: { description: 'HTML page.', contentType: html } },
        handler(request, response) {
          response.type('html').send(swaggerPage(relativeBase(request), options.serviceName));
        },
      },
      {
        method: 'get',
        path: '/redoc',
        group: 'docs',
        operationId: 'redoc',
        summary: 'ReDoc',
        tags: ['service'],
        responses: { 200: { description: 'HTML page.', contentType: html } },
        handler(request, response) {
          // ReDoc's footer logo comes from a CDN; the policy keeps the page fully offline.
          response.setHeader('Content-Security-Policy', REDOC_POLICY);
          response.type('html').send(redocPage(relativeBase(request), options.serviceName));
        },
      },
    );
  }
  // The console: its API in routes-console.ts, its page (`/dashboard...`) in routes-dashboard.ts.
  return routes;
}
