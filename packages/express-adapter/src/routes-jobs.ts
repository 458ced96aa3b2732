import {
  BatchRequestSchema,
  BatchStatusSchema,
  JobRequestSchema,
  type SubmitResult,
  type TaskRecord,
} from '@ncr-upload/core';
import type { Request } from 'express';
import type { z } from 'zod';
import { fieldErrors, HttpProblem, validationProblem } from './problem.js';
import type { RouteContext, RouteSpec } from './route-spec.js';
import {
  BatchIdParamsSchema,
  BatchSubmitResponseSchema,
  JobStatusResponseSchema,
  SubmitResponseSchema,
  TaskIdParamsSchema,
  TaskListResponseSchema,
  TaskQuerySchema,
} from './schemas.js';

/** Parse a request part with its schema or throw a 400 naming every bad field. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationProblem(parsed.error, where, value);
  return parsed.data;
}

/** The answer to an accepted submission (the general and the lean path give the same). */
export const submitAnswer = (jobId: string, result: SubmitResult) => ({
  task_id: result.task_id,
  job_id: jobId,
  status: result.state,
  message: result.created
    ? 'Job queued for processing.'
    : 'The job is already queued or running; this is its task.',
  created: result.created,
});

const notFound = (what: string, id: string) => new HttpProblem(404, 'not-found', `No ${what} with id ${id}.`);

/** The task record plus the aliases clients of the original service read. */
export const jobStatus = (record: TaskRecord) => ({
  ...record,
  status: record.state,
  percent: record.progress.percent,
});

const taskId = (request: Request) => parse(TaskIdParamsSchema, request.params, 'path').task_id;

const exampleJob = {
  job_id: 'your-job-id',
  username: 'your-username',
  campaign: 'your-campaign',
  row_id: 123,
};

/** Routes of the `jobs` auth group: submit, status, batches, search, cancel, retry. */
export function jobRoutes({ pipeline, options }: RouteContext): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/process-job',
      group: 'jobs',
      operationId: 'processJob',
      summary: 'Submit a job',
      description:
        'Validates and queues a job. Answers 200 (as the original service did). Submitting a job (the same campaign, username and job_id) that is still queued or running returns its existing task_id with `created: false`.',
      tags: ['jobs'],
      body: { schema: JobRequestSchema, description: 'The job.', example: exampleJob },
      responses: {
        200: { description: 'Queued (or already active).', schema: SubmitResponseSchema },
        429: {
          description: 'The queue is full; retry after `Retry-After` seconds.',
          headers: { 'Retry-After': 'Seconds.' },
        },
        503: {
          description: 'Memory is above the threshold; retry later.',
          headers: { 'Retry-After': 'Seconds.' },
        },
      },
      async handler(request, response) {
        const job = parse(JobRequestSchema, request.body, 'body');
        response.json(submitAnswer(job.job_id, await pipeline.submit(job)));
      },
    },
    {
      method: 'get',
      path: '/job-status/:task_id',
      group: 'jobs',
      operationId: 'getJobStatus',
      summary: 'Status of a task',
      tags: ['jobs'],
      params: TaskIdParamsSchema,
      responses: { 200: { description: 'The task.', schema: JobStatusResponseSchema } },
      async handler(request, response) {
        const id = taskId(request);
        const record = await pipeline.getTask(id);
        if (!record) throw notFound('task', id);
        response.json(jobStatus(record));
      },
    },
    {
      method: 'get',
      path: '/jobs/active',
      group: 'jobs',
      operationId: 'listActiveJobs',
      summary: 'Queued, running and retrying tasks',
      tags: ['jobs'],
      responses: { 200: { description: 'Active tasks, oldest first.', schema: TaskListResponseSchema } },
      async handler(_request, response) {
        const jobs = await pipeline.listActive();
        response.json({ count: jobs.length, jobs });
      },
    },
    {
      method: 'get',
      path: '/jobs',
      group: 'jobs',
      operationId: 'searchJobs',
      summary: 'Search tasks',
      description: 'Tasks matching every given field, newest first.',
      tags: ['jobs'],
      query: TaskQuerySchema,
      responses: { 200: { description: 'Matching tasks.', schema: TaskListResponseSchema } },
      async handler(request, response) {
        const filter = parse(TaskQuerySchema, request.query, 'query');
        const clean = Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined));
        const jobs = await pipeline.listTasks(clean);
        response.json({ count: jobs.length, jobs });
      },
    },
    {
      method: 'delete',
      path: '/jobs/:task_id',
      group: 'jobs',
      operationId: 'cancelJob',
      summary: 'Cancel a queued or running task',
      tags: ['jobs'],
      params: TaskIdParamsSchema,
      responses: {
        200: {
          description: 'The task, cancelled or with cancellation requested.',
          schema: JobStatusResponseSchema,
        },
        409: { description: 'The task already finished.' },
      },
      async handler(request, response) {
        response.json(jobStatus(await pipeline.cancel(taskId(request))));
      },
    },
    {
      method: 'post',
      path: '/jobs/:task_id/retry',
      group: 'jobs',
      operationId: 'retryJob',
      summary: 'Run a failed, rejected or cancelled task again',
      description: 'Creates a new task for the same job.',
      tags: ['jobs'],
      params: TaskIdParamsSchema,
      responses: {
        200: { description: 'The new task.', schema: SubmitResponseSchema },
        409: { description: 'The task is still active or succeeded.' },
      },
      async handler(request, response) {
        const id = taskId(request);
        const original = await pipeline.getTask(id);
        if (!original) throw notFound('task', id);
        const result = await pipeline.retry(id);
        response.json({
          task_id: result.task_id,
          job_id: original.job_id,
          status: result.state,
          message: result.created
            ? `Retrying task ${id} as a new task.`
            : 'The job is already queued or running.',
          created: result.created,
        });
      },
    },
    {
      method: 'post',
      path: '/process-batch',
      group: 'jobs',
      operationId: 'processBatch',
      summary: 'Submit many jobs as one batch',
      description: `A JSON array of jobs (at most ${options.maxBatchSize}). Invalid items get a per-item error while valid ones are queued; 400 when no item is valid.`,
      tags: ['batches'],
      body: {
        schema: BatchRequestSchema,
        description: 'Jobs.',
        example: [
          { job_id: 'job-1', username: 'user1', campaign: 'campaign1' },
          { job_id: 'job-2', username: 'user2', campaign: 'campaign2' },
        ],
      },
      responses: {
        200: {
          description: 'The batch; see `items` for per-item errors.',
          schema: BatchSubmitResponseSchema,
        },
        413: { description: `More than ${options.maxBatchSize} jobs, or the body is too large.` },
        429: { description: 'The queue is full.', headers: { 'Retry-After': 'Seconds.' } },
        503: { description: 'Memory is above the threshold.', headers: { 'Retry-After': 'Seconds.' } },
      },
      async handler(request, response) {
        const jobs = parse(BatchRequestSchema, request.body, 'body');
        if (jobs.length > options.maxBatchSize) {
          throw new HttpProblem(
            413,
            'batch-too-large',
            `A batch may hold at most ${options.maxBatchSize} jobs; this one has ${jobs.length}.`,
          );
        }
        const result = await pipeline.submitBatch(jobs);
        const rejected = result.items.filter((item) => item.error).length;
        if (result.task_ids.length === 0) {
          throw new HttpProblem(400, 'invalid-request', 'No job of the batch is valid.', {
            items: result.items,
            errors: result.items.flatMap((item) => itemErrors(item.index, jobs[item.index], item.error)),
          });
        }
        response.json({
          batch_id: result.batch_id,
          task_ids: result.task_ids,
          items: result.items,
          total: jobs.length,
          accepted: result.task_ids.length,
          rejected,
          message: `Batch queued: ${result.task_ids.length} of ${jobs.length} jobs accepted.`,
        });
      },
    },
    {
      method: 'get',
      path: '/batch-status/:batch_id',
      group: 'jobs',
      operationId: 'getBatchStatus',
      summary: 'Aggregate status of a batch',
      tags: ['batches'],
      params: BatchIdParamsSchema,
      responses: { 200: { description: 'Counts per state, percent, done.', schema: BatchStatusSchema } },
      async handler(request, response) {
        const id = parse(BatchIdParamsSchema, request.params, 'path').batch_id;
        const batch = await pipeline.getBatch(id);
        if (!batch) throw notFound('batch', id);
        response.json(batch);
      },
    },
  ];
}

/** Field errors of one refused batch item, located at `body.<index>.<field>`. */
function itemErrors(index: number, input: unknown, error: { message: string; details?: unknown } | null) {
  if (!error) return [];
  // The schema's own issues carry FastAPI's error types; other refusals (undeliverable ids) their fields.
  const parsed = JobRequestSchema.safeParse(input);
  if (!parsed.success) return fieldErrors(parsed.error, `body.${index}`, input);
  const fields = (error.details as { fields?: { field: string; message: string }[] } | undefined)?.fields;
  if (Array.isArray(fields) && fields.length > 0) {
    return fields.map((f) => ({ field: `body.${index}.${f.field}`, message: f.message }));
  }
  return [{ field: `body.${index}`, message: error.message }];
}
