import type { StatusStore, TaskInsights, TaskState } from '@ncr-upload/core';
import { monitorSeries, monitorWindow } from './console-monitor.js';
import {
  BatchDetailSchema,
  BatchPageQuerySchema,
  BatchPageSchema,
  BulkRetryBodySchema,
  BulkRetryResponseSchema,
  MonitorQuerySchema,
  MonitorSchema,
  QueueViewSchema,
  TaskDetailSchema,
  TaskPageQuerySchema,
  TaskPageSchema,
  WorkerControlBodySchema,
  WorkerControlSchema,
  WorkerListSchema,
  WorkerParamsSchema,
} from './console-schemas.js';
import { HttpProblem } from './problem.js';
import type { RouteContext, RouteSpec } from './route-spec.js';
import { dashboardRoutes } from './routes-dashboard.js';
import { parse } from './routes-jobs.js';
import { BatchIdParamsSchema, TaskIdParamsSchema } from './schemas.js';

/** The store's capability, or a 501 saying the store lacks it. */
function capability<K extends keyof TaskInsights>(store: StatusStore, name: K): NonNullable<StatusStore[K]> {
  const method = store[name];
  if (typeof method !== 'function') {
    throw new HttpProblem(
      501,
      'not-implemented',
      `The status store has no ${String(name)}(); use the in-memory or the Redis store for the console.`,
    );
  }
  return (method as (...args: never[]) => unknown).bind(store) as NonNullable<StatusStore[K]>;
}

const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));

/**
 * The operations console: its page and assets (`/dashboard...`) and the API it
 * reads (`/tasks`, `/workers`, `/monitor`, `/batches`, `/queue`), documented
 * in `/openapi.json` like every route.
 */
export function consoleRoutes({ pipeline, options }: RouteContext): RouteSpec[] {
  const store = pipeline.statusStore;
  const sampleQueue = async () => {
    const stats = await pipeline.stats();
    await store.recordQueueDepth?.({
      at: Date.now(),
      waiting: stats.queue.waiting,
      active: stats.queue.active,
    });
    return stats;
  };
  const routes: RouteSpec[] = [
    {
      method: 'get',
      path: '/tasks',
      group: 'jobs',
      operationId: 'queryTasks',
      summary: 'A page of tasks: sorted, filtered by state, worker and time, searched by prefix',
      description: 'Served by the status store indexes (Redis sorted sets), never by a scan.',
      tags: ['console'],
      query: TaskPageQuerySchema,
      responses: { 200: { description: 'One page and the total.', schema: TaskPageSchema } },
      async handler(request, response) {
        const query = parse(TaskPageQuerySchema, request.query, 'query');
        const offset = query.offset ?? 0;
        const limit = query.limit ?? 50;
        const page = await capability(
          store,
          'queryTasks',
        )({
          ...(query.state ? { states: query.state.split(',') as TaskState[] } : {}),
          ...(query.worker ? { worker: query.worker } : {}),
          ...(query.from ? { from: ms(query.from) } : {}),
          ...(query.to ? { to: ms(query.to) } : {}),
          ...(query.q ? { search: query.q } : {}),
          sort: query.sort ?? 'created_at',
          order: query.order ?? 'desc',
          offset,
          limit,
        });
        response.json({ total: page.total, offset, limit, items: page.items });
      },
    },
    {
      method: 'get',
      path: '/tasks/:task_id',
      group: 'jobs',
      operationId: 'getTaskDetail',
      summary: 'A task with the timeline of every attempt, stage by stage',
      tags: ['console'],
      params: TaskIdParamsSchema,
      responses: { 200: { description: 'The task and its timeline.', schema: TaskDetailSchema } },
      async handler(request, response) {
        const id = parse(TaskIdParamsSchema, request.params, 'path').task_id;
        const task = await pipeline.getTask(id);
        if (!task) throw new HttpProblem(404, 'not-found', `No task with id ${id}.`);
        const timeline = store.taskTimeline ? await store.taskTimeline(id) : [];
        response.json({ task, timeline });
      },
    },
    {
      method: 'post',
      path: '/tasks/retry',
      group: 'jobs',
      operationId: 'retryTasks',
      summary: 'Retry many failed, rejected or cancelled tasks at once',
      description:
        'Each one becomes a new task for the same job; tasks that cannot be retried are reported per item.',
      tags: ['console'],
      body: {
        schema: BulkRetryBodySchema,
        description: 'Which tasks.',
        example: { state: 'failed', limit: 100 },
      },
      responses: { 200: { description: 'What happened to each task.', schema: BulkRetryResponseSchema } },
      async handler(request, response) {
        const body = parse(BulkRetryBodySchema, request.body, 'body');
        const ids =
          body.task_ids ??
          (
            await capability(
              store,
              'queryTasks',
            )({
              states: [body.state as TaskState],
              limit: body.limit ?? 100,
            })
          ).items.map((task) => task.task_id);
        const items: { task_id: string; new_task_id: string | null; error: string | null }[] = [];
        for (const id of ids) {
          try {
            const result = await pipeline.retry(id);
            items.push({ task_id: id, new_task_id: result.task_id, error: null });
          } catch (error) {
            items.push({ task_id: id, new_task_id: null, error: (error as Error).message });
          }
        }
        response.json({ retried: items.filter((item) => item.new_task_id).length, items });
      },
    },
    {
      method: 'get',
      path: '/workers',
      group: 'monitoring',
      operationId: 'listWorkers',
      summary: 'Every worker: online or offline, figures, the control in force',
      tags: ['console'],
      responses: { 200: { description: 'Workers, online first.', schema: WorkerListSchema } },
      async handler(_request, response) {
        const workers = await capability(store, 'listWorkers')();
        response.json({ workers, online: workers.filter((worker) => worker.online).length });
      },
    },
    {
      method: 'post',
      path: '/workers/:worker_id/control',
      group: 'jobs',
      operationId: 'controlWorker',
      summary:
        'Pause or resume taking jobs, change concurrency live, or drain and stop; `*` for every worker',
      description:
        'Stored in the status store (so a worker that restarts or reconnects still obeys) and read by each worker on its next heartbeat, within about a second.',
      tags: ['console'],
      params: WorkerParamsSchema,
      body: { schema: WorkerControlBodySchema, description: 'The change.', example: { paused: true } },
      responses: { 200: { description: 'The control now in force.', schema: WorkerControlSchema } },
      async handler(request, response) {
        const id = parse(WorkerParamsSchema, request.params, 'path').worker_id;
        const change = parse(WorkerControlBodySchema, request.body, 'body');
        if (id !== '*') {
          const known = await capability(store, 'listWorkers')();
          if (!known.some((worker) => worker.id === id)) {
            throw new HttpProblem(404, 'not-found', `No worker with id ${id}; GET /workers lists them.`);
          }
        }
        response.json(await capability(store, 'controlWorkers')(id, change));
      },
    },
    {
      method: 'get',
      path: '/monitor',
      group: 'monitoring',
      operationId: 'monitor',
      summary: 'Series for the monitor graphs over the last hour, 24 hours or 7 days',
      description:
        'From metric buckets kept in the status store (minutes for two days, hours for eight), so they survive a restart of the API.',
      tags: ['console'],
      query: MonitorQuerySchema,
      responses: { 200: { description: 'Points, totals and time per stage.', schema: MonitorSchema } },
      async handler(request, response) {
        const range = parse(MonitorQuerySchema, request.query, 'query').range ?? '1h';
        await sampleQueue().catch(() => undefined);
        const window = monitorWindow(range);
        const buckets = await capability(store, 'readMetrics')(window);
        response.json(monitorSeries(range, buckets));
      },
    },
    {
      method: 'get',
      path: '/batches',
      group: 'jobs',
      operationId: 'listBatches',
      summary: 'Batches with their progress, newest first',
      tags: ['console'],
      query: BatchPageQuerySchema,
      responses: { 200: { description: 'One page of batches.', schema: BatchPageSchema } },
      async handler(request, response) {
        const query = parse(BatchPageQuerySchema, request.query, 'query');
        const offset = query.offset ?? 0;
        const limit = query.limit ?? 50;
        const page = await capability(store, 'listBatches')({ offset, limit });
        response.json({ total: page.total, offset, limit, items: page.items });
      },
    },
    {
      method: 'get',
      path: '/batches/:batch_id',
      group: 'jobs',
      operationId: 'getBatchDetail',
      summary: 'A batch with its tasks',
      tags: ['console'],
      params: BatchIdParamsSchema,
      query: BatchPageQuerySchema,
      responses: { 200: { description: 'The batch and one page of its tasks.', schema: BatchDetailSchema } },
      async handler(request, response) {
        const id = parse(BatchIdParamsSchema, request.params, 'path').batch_id;
        const query = parse(BatchPageQuerySchema, request.query, 'query');
        const batch = await pipeline.getBatch(id);
        if (!batch) throw new HttpProblem(404, 'not-found', `No batch with id ${id}.`);
        const offset = query.offset ?? 0;
        const ids = batch.task_ids.slice(offset, offset + (query.limit ?? 50));
        const tasks = (await Promise.all(ids.map((taskId) => pipeline.getTask(taskId)))).filter(
          (task) => task !== null,
        );
        response.json({ batch, tasks, total: batch.task_ids.length, offset });
      },
    },
    {
      method: 'get',
      path: '/queue',
      group: 'monitoring',
      operationId: 'queueView',
      summary: 'Waiting, active, delayed, retrying, failed and paused, with the oldest waiting age',
      tags: ['console'],
      responses: { 200: { description: 'The queue.', schema: QueueViewSchema } },
      async handler(_request, response) {
        const stats = await sampleQueue();
        const query = capability(store, 'queryTasks');
        const [oldest, failed, retrying, workers] = await Promise.all([
          query({ states: ['queued'], sort: 'created_at', order: 'asc', limit: 1 }),
          query({ states: ['failed'], limit: 0 }),
          query({ states: ['retrying'], limit: 0 }),
          store.listWorkers ? store.listWorkers() : Promise.resolve([]),
        ]);
        const oldestAt = oldest.items[0]?.created_at ?? null;
        const priorities = (await pipeline.queue.waitingByPriority?.().catch(() => null)) ?? [];
        response.json({
          queues: [
            {
              name: 'uploads',
              waiting: stats.queue.waiting,
              active: stats.queue.active,
              delayed: stats.queue.delayed,
              paused: stats.queue.paused,
              failed: failed.total,
              retrying: retrying.total,
              oldest_waiting_at: oldestAt,
              oldest_waiting_seconds: oldestAt
                ? Math.max(0, (Date.now() - Date.parse(oldestAt)) / 1000)
                : null,
              priorities,
            },
          ],
          workers_online: workers.filter((worker) => worker.online).length,
          timestamp: new Date().toISOString(),
        });
      },
    },
  ];
  if (options.dashboard) routes.push(...dashboardRoutes(options));
  return routes;
}
