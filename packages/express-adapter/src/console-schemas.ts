import {
  BatchStatusSchema,
  StageSchema,
  TASK_SORT_FIELDS,
  TASK_STATES,
  TaskRecordSchema,
  TaskStateSchema,
} from '@ncr-upload/core';
import { z } from 'zod';

/** Zod schemas of the console routes (routes-console.ts); `/openapi.json` documents them. */

const count = () => z.number().int().nonnegative();
const time = (field: string) =>
  z
    .string()
    .refine((value) => Number.isFinite(Date.parse(value)), `${field} must be an ISO 8601 time`)
    .optional();
const page = (defaultLimit: number, max: number) => ({
  offset: z.coerce
    .number({ error: 'offset must be a number' })
    .int()
    .min(0, 'offset must be at least 0')
    .optional()
    .describe('Default 0.'),
  limit: z.coerce
    .number({ error: 'limit must be a number' })
    .int()
    .min(1, 'limit must be at least 1')
    .max(max, `limit must be at most ${max}`)
    .optional()
    .describe(`Default ${defaultLimit}.`),
});

/** `GET /tasks` query. */
export const TaskPageQuerySchema = z.object({
  state: z
    .string()
    .optional()
    .describe(`Comma-separated states: ${TASK_STATES.join(', ')}.`)
    .refine(
      (value) =>
        !value || value.split(',').every((state) => (TASK_STATES as readonly string[]).includes(state)),
      `state must be a comma-separated list of ${TASK_STATES.join(', ')}`,
    ),
  worker: z.string().min(1).max(256).optional().describe('Tasks last run by this worker id.'),
  from: time('from').describe('Created at or after (ISO 8601).'),
  to: time('to').describe('Created at or before (ISO 8601).'),
  q: z.string().max(256).optional().describe('Case-insensitive prefix of the job_id, username or campaign.'),
  sort: z.enum(TASK_SORT_FIELDS).optional().describe('Default created_at.'),
  order: z.enum(['asc', 'desc']).optional().describe('Default desc.'),
  ...page(50, 500),
});

export const TaskPageSchema = z
  .object({ total: count(), offset: count(), limit: count(), items: z.array(TaskRecordSchema) })
  .meta({ id: 'TaskPage', description: 'One page of tasks, from the status store indexes.' });

export const StageSpanSchema = z
  .object({
    attempt: count(),
    state: TaskStateSchema,
    stage: StageSchema.nullable(),
    started_at: z.string(),
    ended_at: z.string().nullable(),
    worker: z.string().nullable(),
    files_done: count(),
    files_total: count(),
    bytes_done: z.number().nonnegative(),
    bytes_total: z.number().nonnegative(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'StageSpan', description: 'One stage of one attempt of a task.' });

export const TaskDetailSchema = z
  .object({ task: TaskRecordSchema, timeline: z.array(StageSpanSchema) })
  .meta({ id: 'TaskDetail' });

export const BulkRetryBodySchema = z
  .object({
    task_ids: z.array(z.string().min(1).max(256)).max(1000).optional().describe('These tasks.'),
    state: z
      .enum(['failed', 'rejected', 'cancelled'])
      .optional()
      .describe('Or every task in this state (newest first), up to `limit`.'),
    limit: z.number().int().min(1).max(1000).optional().describe('Default 100.'),
  })
  .refine((body) => body.task_ids !== undefined || body.state !== undefined, {
    message: 'give task_ids or state',
  });

export const BulkRetryResponseSchema = z
  .object({
    retried: count(),
    items: z.array(
      z.object({
        task_id: z.string(),
        new_task_id: z.string().nullable(),
        error: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'BulkRetryResponse' });

export const WorkerControlSchema = z
  .object({
    paused: z.boolean(),
    concurrency: z.number().int().positive().nullable(),
    stop: z.boolean(),
    updated_at: z.string().nullable(),
  })
  .meta({ id: 'WorkerControl', description: 'What operators asked a worker (or every worker) to do.' });

export const WorkerViewSchema = z
  .object({
    id: z.string(),
    host: z.string(),
    pid: z.number().int(),
    started_at: z.string(),
    seen_at: z.string(),
    online: z.boolean().describe('A heartbeat arrived within its time to live.'),
    concurrency: count().describe('The concurrency it was started with, or that an operator set.'),
    concurrency_current: count().describe('What it runs with now (memory may lower it).'),
    active: count(),
    memory_rss: z.number().nonnegative(),
    memory_percent: z.number().nonnegative(),
    paused: z.boolean(),
    pause_reason: z.enum(['operator', 'memory']).nullable(),
    draining: z.boolean(),
    processed: count(),
    failed: count(),
    last_task_id: z.string().nullable(),
    last_task_at: z.string().nullable(),
    control: WorkerControlSchema,
  })
  .meta({ id: 'Worker' });

export const WorkerListSchema = z
  .object({ workers: z.array(WorkerViewSchema), online: count() })
  .meta({ id: 'WorkerList' });

export const WorkerParamsSchema = z.object({
  worker_id: z.string().min(1).max(256).describe('A worker id, or `*` for every worker.'),
});

export const WorkerControlBodySchema = z
  .object({
    paused: z.boolean().optional().describe('Stop (true) or resume (false) taking jobs.'),
    concurrency: z.number().int().min(1).max(256).nullable().optional().describe('null: back to its own.'),
    stop: z.boolean().optional().describe('Drain and stop, as SIGTERM does.'),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: 'give paused, concurrency or stop',
  });

export const MonitorQuerySchema = z.object({
  range: z.enum(['1h', '24h', '7d']).optional().describe('Default 1h.'),
});

const PointSchema = z.object({
  at: z.string(),
  succeeded: z.number().nonnegative().describe('Tasks that succeeded, per minute.'),
  failed: z.number().nonnegative().describe('Tasks that failed or were rejected, per minute.'),
  bytes_per_second: z.number().nonnegative(),
  queue_waiting: count().nullable(),
  queue_active: count().nullable(),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
});

export const MonitorSchema = z
  .object({
    range: z.enum(['1h', '24h', '7d']),
    step_seconds: z.number().int().positive(),
    from: z.string(),
    to: z.string(),
    points: z.array(PointSchema),
    totals: z.object({
      created: count(),
      succeeded: count(),
      failed: count(),
      rejected: count(),
      cancelled: count(),
      bytes: z.number().nonnegative(),
      p50_ms: z.number().nullable(),
      p95_ms: z.number().nullable(),
    }),
    stages: z.array(
      z.object({ stage: StageSchema, total_ms: z.number(), count: count(), mean_ms: z.number() }),
    ),
  })
  .meta({ id: 'Monitor', description: 'Series from the metric buckets of the status store.' });

export const BatchPageQuerySchema = z.object(page(50, 500));

export const BatchPageSchema = z
  .object({ total: count(), offset: count(), limit: count(), items: z.array(BatchStatusSchema) })
  .meta({ id: 'BatchPage' });

export const BatchDetailSchema = z
  .object({ batch: BatchStatusSchema, tasks: z.array(TaskRecordSchema), total: count(), offset: count() })
  .meta({ id: 'BatchDetail' });

export const QueueViewSchema = z
  .object({
    queues: z.array(
      z.object({
        name: z.string(),
        waiting: count(),
        active: count(),
        delayed: count(),
        paused: z.boolean(),
        failed: count().describe('Tasks whose last state is failed (kept for the store retention).'),
        retrying: count(),
        oldest_waiting_at: z.string().nullable(),
        oldest_waiting_seconds: z.number().nullable(),
        priorities: z
          .array(z.object({ priority: z.number(), waiting: count() }))
          .describe('Waiting jobs per priority, where the queue can tell.'),
      }),
    ),
    workers_online: count(),
    timestamp: z.string(),
  })
  .meta({ id: 'QueueView' });

/** Named schemas of the console, added to `components.schemas`. */
export const CONSOLE_SCHEMAS: [z.ZodType, string][] = [
  [TaskPageSchema, 'TaskPage'],
  [StageSpanSchema, 'StageSpan'],
  [TaskDetailSchema, 'TaskDetail'],
  [BulkRetryResponseSchema, 'BulkRetryResponse'],
  [WorkerControlSchema, 'WorkerControl'],
  [WorkerViewSchema, 'Worker'],
  [WorkerListSchema, 'WorkerList'],
  [MonitorSchema, 'Monitor'],
  [BatchPageSchema, 'BatchPage'],
  [BatchDetailSchema, 'BatchDetail'],
  [QueueViewSchema, 'QueueView'],
];
