import {
  BatchStatusSchema,
  JobRequestSchema,
  ProgressSchema,
  TaskErrorSchema,
  TaskRecordSchema,
  TaskResultSchema,
  TaskStateSchema,
} from '@ncr-upload/core';
import { z } from 'zod';
import { CONSOLE_SCHEMAS } from './console-schemas.js';

/**
 * Zod schemas of what the HTTP API returns beyond the core model. They document
 * the API (`/openapi.json` is generated from them) and validate requests.
 */

export const ProblemSchema = z
  .object({
    type: z.string().describe('A URN naming the kind of problem.'),
    title: z.string(),
    status: z.number().int(),
    detail: z
      .union([
        z.string(),
        z.array(
          z.object({
            loc: z.array(z.union([z.string(), z.number().int()])),
            msg: z.string(),
            type: z.string(),
          }),
        ),
      ])
      .describe(
        "What went wrong. For an invalid request, FastAPI's array of `{loc, msg, type}` (the sentence is then in `message`).",
      ),
    message: z.string().optional().describe('The sentence, when `detail` is an array.'),
    code: z.string().optional().describe('The UploadError code, when the problem came from the pipeline.'),
    request_id: z.string().optional(),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .describe('Every invalid field of the request.'),
    items: z.array(z.unknown()).optional().describe('Per-item results of a batch that had no valid job.'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (`application/problem+json`).' });

export const RootResponseSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    message: z.string(),
    links: z.record(z.string(), z.string()),
  })
  .meta({ id: 'RootResponse' });

export const SubmitResponseSchema = z
  .object({
    task_id: z.string(),
    job_id: z.string(),
    status: TaskStateSchema.describe('The task state: `queued` for a new task.'),
    message: z.string(),
    created: z
      .boolean()
      .describe('False when the job was already queued or running and its task was returned.'),
  })
  .meta({ id: 'SubmitResponse' });

export const JobStatusResponseSchema = TaskRecordSchema.extend({
  status: TaskStateSchema.describe('Alias of `state`, for clients of the original service.'),
  percent: z.number().min(0).max(100).describe('Alias of `progress.percent`.'),
}).meta({ id: 'JobStatusResponse' });

export const TaskListResponseSchema = z
  .object({ count: z.number().int().nonnegative(), jobs: z.array(TaskRecordSchema) })
  .meta({ id: 'TaskList' });

export const BatchItemSchema = z
  .object({
    index: z.number().int().nonnegative(),
    job_id: z.string().nullable(),
    task_id: z.string().nullable(),
    created: z.boolean(),
    error: TaskErrorSchema.nullable(),
  })
  .meta({ id: 'BatchItem' });

export const BatchSubmitResponseSchema = z
  .object({
    batch_id: z.string(),
    task_ids: z.array(z.string()),
    items: z.array(BatchItemSchema),
    total: z.number().int().nonnegative(),
    accepted: z.number().int().nonnegative(),
    rejected: z.number().int().nonnegative(),
    message: z.string(),
  })
  .meta({ id: 'BatchSubmitResponse' });

const CheckStatusSchema = z.enum(['ok', 'error', 'skipped']);

export const HealthResponseSchema = z
  .object({
    status: z.enum(['healthy', 'degraded']),
    redis: z
      .string()
      .describe(
        'Status store: `connected`, `unreachable` (with `redis_reason`) or `not_configured` (no Redis: the in-memory store; original field).',
      ),
    redis_reason: z
      .string()
      .optional()
      .describe('Why the status store is unreachable: the message with the API key, else its code.'),
    database: z
      .string()
      .describe('Catalog: `connected`, `disconnected` or `not_configured` (original field).'),
    queue: CheckStatusSchema,
    storage: CheckStatusSchema,
    destination: CheckStatusSchema,
    validator: CheckStatusSchema,
    checks: z
      .record(
        z.string(),
        z.object({ status: CheckStatusSchema, message: z.string().optional(), code: z.string().optional() }),
      )
      .describe(
        'Every check. Without the API key (when one is configured) failed checks give their code, not their message.',
      ),
    timestamp: z.string(),
  })
  .meta({ id: 'HealthResponse' });

export const MemoryStatsSchema = z
  .object({
    process: z.object({
      rss: z.number(),
      heap_used: z.number(),
      heap_total: z.number(),
      external: z.number(),
      array_buffers: z.number(),
    }),
    system: z.object({
      total: z.number(),
      available: z.number(),
      used: z.number(),
      percent: z.number(),
      source: z.enum(['cgroup', 'os']),
    }),
    max_memory_percent: z.number(),
    accepting_jobs: z.boolean(),
    recommended_concurrency: z.number().int(),
    timestamp: z.string(),
  })
  .meta({ id: 'MemoryStats', description: 'Memory figures in bytes.' });

export const WorkerStatsSchema = z
  .object({
    active: z.number().int().nonnegative().describe('Tasks running now.'),
    scheduled: z.number().int().nonnegative().describe('Tasks waiting for a retry (delayed).'),
    queued: z.number().int().nonnegative().describe('Tasks waiting for a free slot.'),
    paused: z.boolean(),
    queues: z.record(z.string(), z.number().int().nonnegative()).describe('Queue lengths by name.'),
    workers: z.array(
      z.object({
        id: z.string(),
        active: z.number().int().nonnegative(),
        concurrency: z.number().int().nonnegative(),
        last_job_at: z.string().nullable(),
      }),
    ),
    worker_id: z.string(),
    consuming: z.boolean(),
    consuming_since: z.string().nullable(),
    queue_consuming: z.boolean().nullable(),
    draining: z.boolean(),
    concurrency: z.number().int().nonnegative(),
    last_job_at: z.string().nullable(),
    timestamp: z.string(),
  })
  .meta({ id: 'WorkerStats' });

const CeleryTaskSchema = z.object({
  id: z.string(),
  name: z.string(),
  args: z.array(z.unknown()),
  kwargs: JobRequestSchema,
  type: z.string(),
  hostname: z.string(),
  time_start: z.number().nullable().describe('Seconds since the epoch.'),
  acknowledged: z.boolean(),
  delivery_info: z.record(z.string(), z.unknown()),
  worker_pid: z.number().nullable(),
});

export const CeleryStatsSchema = z
  .object({
    active: z.record(z.string(), z.array(CeleryTaskSchema)).describe('Running tasks by worker.'),
    scheduled: z
      .record(
        z.string(),
        z.array(z.object({ eta: z.string().nullable(), priority: z.number(), request: CeleryTaskSchema })),
      )
      .describe('Tasks waiting for a retry, by the worker that last ran them.'),
    reserved: z
      .record(z.string(), z.array(CeleryTaskSchema))
      .describe('Always empty lists: workers take no task ahead.'),
    stats: z.record(
      z.string(),
      z.object({
        pool: z.object({ 'max-concurrency': z.number().int().nonnegative() }),
        active: z.number().int().nonnegative(),
        last_job_at: z.string().nullable(),
      }),
    ),
    timestamp: z.string(),
  })
  .meta({
    id: 'CeleryStats',
    description: "The shapes of Celery's `inspect()` replies, keyed by worker name.",
  });

export const ProbeResponseSchema = z
  .object({ status: z.enum(['ok', 'draining', 'unavailable']), timestamp: z.string() })
  .meta({ id: 'ProbeResponse' });

export const LivenessResponseSchema = z
  .object({
    status: z.enum(['ok', 'stuck']),
    timestamp: z.string(),
    consuming: z.boolean().meta({ description: 'This process consumes the queue.' }),
    last_job_at: z.string().nullable().meta({ description: 'When this process last took a job.' }),
    waiting: z.number().int().nonnegative(),
  })
  .meta({ id: 'LivenessResponse' });

/** `GET /jobs` query. */
export const TaskQuerySchema = z.object({
  job_id: z.string().min(1).max(256).optional(),
  username: z.string().min(1).max(256).optional(),
  campaign: z.string().min(1).max(256).optional(),
  state: TaskStateSchema.optional(),
  limit: z.coerce
    .number({ error: 'limit must be a number' })
    .int('limit must be an integer')
    .min(1, 'limit must be at least 1')
    .max(1000, 'limit must be at most 1000')
    .optional()
    .describe('Default 100.'),
});

/** `GET /events` query: every field narrows the stream. */
export const EventQuerySchema = z.object({
  task_id: z.string().min(1).optional(),
  job_id: z.string().min(1).optional(),
  batch_id: z.string().min(1).optional(),
});

export const TaskIdParamsSchema = z.object({ task_id: z.string().min(1).max(256) });
export const BatchIdParamsSchema = z.object({ batch_id: z.string().min(1).max(256) });

/** Every named schema, in the order they appear in `components.schemas`. */
export const COMPONENT_SCHEMAS: [z.ZodType, string][] = [
  [JobRequestSchema, 'JobRequest'],
  [ProgressSchema, 'Progress'],
  [TaskErrorSchema, 'TaskError'],
  [TaskResultSchema, 'TaskResult'],
  [TaskRecordSchema, 'TaskRecord'],
  [BatchStatusSchema, 'BatchStatus'],
  [ProblemSchema, 'Problem'],
  [RootResponseSchema, 'RootResponse'],
  [SubmitResponseSchema, 'SubmitResponse'],
  [JobStatusResponseSchema, 'JobStatusResponse'],
  [TaskListResponseSchema, 'TaskList'],
  [BatchItemSchema, 'BatchItem'],
  [BatchSubmitResponseSchema, 'BatchSubmitResponse'],
  [HealthResponseSchema, 'HealthResponse'],
  [MemoryStatsSchema, 'MemoryStats'],
  [WorkerStatsSchema, 'WorkerStats'],
  [CeleryStatsSchema, 'CeleryStats'],
  [ProbeResponseSchema, 'ProbeResponse'],
  [LivenessResponseSchema, 'LivenessResponse'],
  ...CONSOLE_SCHEMAS,
];
