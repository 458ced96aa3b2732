import { type PipelineHealth, type PipelineStats, probeLiveness, type TaskRecord } from '@ncr-upload/core';
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

const legacy = (check: Check | undefined, down = 'disconnected') =>
  !check || check.status === 'skipped' ? 'not_configured' : check.status === 'ok' ? 'connected' : down;
const plain = (check: Check | undefined) => check?.status ?? 'skipped';

/**
 * `/health` body: the original `redis`/`database` fields plus every check of the
 * pipeline. Without `detailed` (a caller without the API key), failed checks give
 * their error code only: messages can name hosts, ports, buckets or folders.
 */
export function healthBody(health: PipelineHealth, detailed = true) {
  const checks = detailed ? health.checks : statusesOnly(health.checks);
  const store = pick(checks, ['status_store', 'store', 'redis', 'statusStore']);
  return {
    status: health.status,
    redis: legacy(store, 'unreachable'),
    ...(store?.status === 'error'
      ? { redis_reason: (detailed ? store.message : store.code) ?? 'unreachable' }
      : {}),
    database: legacy(pick(checks, ['catalog', 'database'])),
    queue: plain(pick(checks, ['queue'])),
    storage: plain(pick(checks, ['storage'])),
    destination: plain(pick(checks, ['destination'])),
    validator: plain(pick(checks, ['validator'])),
    checks,
    timestamp: health.timestamp,
  };
}

function statusesOnly(checks: PipelineHealth['checks']): PipelineHealth['checks'] {
  return Object.fromEntries(
    Object.entries(checks).map(([name, check]) => [
      name,
      { status: check.status, ...(check.code ? { code: check.code } : {}) },
    ]),
  );
}

/** `/worker-stats` body: counts of the queue and of each worker. */
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

/** One task as Celery's `inspect().active()` lists it. */
function celeryTask(record: TaskRecord, hostname: string) {
  return {
    id: record.task_id,
    name: 'process_job',
    args: [],
    kwargs: record.job,
    type: 'process_job',
    hostname,
    time_start: record.started_at ? Date.parse(record.started_at) / 1000 : null,
    acknowledged: true,
    delivery_info: { exchange: '', routing_key: 'uploads', priority: 0, redelivered: record.attempts > 1 },
    worker_pid: null,
  };
}

/**
 * `/celery-stats` body in the shapes of Celery's `inspect()`: `active`, `scheduled`
 * (tasks waiting for a retry), `reserved` and `stats`, each keyed by worker name.
 * The counts are at `/worker-stats`.
 */
export function celeryStatsBody(stats: PipelineStats, activeTasks: readonly TaskRecord[]) {
  const workers = stats.queue.workers ?? [
    {
      id: stats.worker_id,
      active: stats.active,
      concurrency: stats.concurrency,
      last_job_at: stats.last_job_at,
    },
  ];
  const perWorker = <T>(make: () => T) => Object.fromEntries(workers.map((worker) => [worker.id, make()]));
  const active = perWorker((): ReturnType<typeof celeryTask>[] => []);
  const scheduled = perWorker(
    (): { eta: null; priority: number; request: ReturnType<typeof celeryTask> }[] => [],
  );
  for (const record of activeTasks) {
    const hostname = record.worker ?? stats.worker_id;
    const task = celeryTask(record, hostname);
    if (record.state === 'running') active[hostname] = [...(active[hostname] ?? []), task];
    else if (record.state === 'retrying')
      scheduled[hostname] = [...(scheduled[hostname] ?? []), { eta: null, priority: 0, request: task }];
  }
  return {
    active,
    scheduled,
    reserved: perWorker((): never[] => []),
    stats: Object.fromEntries(
      workers.map((worker) => [
        worker.id,
        {
          pool: { 'max-concurrency': worker.concurrency },
          active: worker.active,
          last_job_at: worker.last_job_at,
        },
      ]),
    ),
    timestamp: new Date().toISOString(),
  };
}

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
  // The console (`/dashboard...`) is in routes-console.ts.
  return routes;
}
