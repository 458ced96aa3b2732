import { assessLiveness, type PipelineHealth, type PipelineStats } from '@ncr-upload/core';
import { redocPage, relativeBase, swaggerPage } from './pages.js';
import { loggableError } from './redact.js';
import type { RouteContext, RouteSpec } from './route-spec.js';
import {
  EventQuerySchema,
  HealthResponseSchema,
  LivenessResponseSchema,
  MemoryStatsSchema,
  ProbeResponseSchema,
  RootResponseSchema,
  WorkerStatsSchema,
} from './schemas.js';

const REDOC_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "font-src 'self' data:",
].join('; ');

type Check = PipelineHealth['checks'][string];

/** The first named check the pipeline reports, so store and catalog names may vary. */
function pick(checks: PipelineHealth['checks'], names: string[]): Check | undefined {
  for (const name of names) if (checks[name]) return checks[name];
  return undefined;
}

const legacy = (check: Check | undefined) =>
  !check || check.status === 'skipped'
    ? 'not_configured'
    : check.status === 'ok'
      ? 'connected'
      : 'disconnected';
const plain = (check: Check | undefined) => check?.status ?? 'skipped';

/** `/health` body: the original `redis`/`database` fields plus every check of the pipeline. */
export function healthBody(health: PipelineHealth) {
  const { checks } = health;
  return {
    status: health.status,
    redis: legacy(pick(checks, ['status_store', 'store', 'redis', 'statusStore'])),
    database: legacy(pick(checks, ['catalog', 'database'])),
    queue: plain(pick(checks, ['queue'])),
    storage: plain(pick(checks, ['storage'])),
    destination: plain(pick(checks, ['destination'])),
    validator: plain(pick(checks, ['validator'])),
    checks,
    timestamp: health.timestamp,
  };
}

/** `/celery-stats` and `/worker-stats` body. */
export function workerStatsBody(stats: PipelineStats) {
  return {
    active: stats.active,
    scheduled: stats.queue.delayed,
    queued: stats.queue.waiting,
    paused: stats.queue.paused,
    queues: { uploads: stats.queue.waiting + stats.queue.delayed },
    workers: stats.queue.workers ?? [
      {
        id: stats.worker_id,
        active: stats.active,
        concurrency: stats.concurrency,
        last_job_at: stats.last_job_at,
      },
    ],
    worker_id: stats.worker_id,
    consuming: stats.consuming,
    consuming_since: stats.consuming_since,
    queue_consuming: stats.queue_consuming,
    draining: stats.draining,
    concurrency: stats.concurrency,
    last_job_at: stats.last_job_at,
    timestamp: new Date().toISOString(),
  };
}

/** Routes of the `monitoring`, `health` and `docs` auth groups. */
export function systemRoutes(context: RouteContext): RouteSpec[] {
  const { pipeline, options, events, metrics, openapi } = context;
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
      async handler(_request, response) {
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
        response.status(health.status === 'healthy' ? 200 : 503).json(healthBody(health));
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
        const liveness = assessLiveness(await pipeline.stats(), options.livenessStaleMs);
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
    workerStats('/celery-stats', 'celeryStats', 'Queue and worker statistics (name kept from the original)'),
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
  // The console (`/dashboard...`) is in routes-console.ts.
  return routes;
}
