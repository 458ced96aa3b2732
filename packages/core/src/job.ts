import { z } from 'zod';
import { ERROR_CODES, STAGES, UploadError } from './errors.js';

/**
 * The data model shared by the pipeline, the status stores and the HTTP API.
 * Field names are snake_case because they are what clients of the original
 * service send and read.
 */

const name = (field: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `${field} is required` : `${field} must be a string`),
    })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(256, `${field} must be at most 256 characters`)
    .refine((value) => !value.includes('\0'), `${field} must not contain NUL`);

/** A job as clients submit it: `POST /process-job`. */
export const JobRequestSchema = z
  .object(
    {
      job_id: name('job_id'),
      username: name('username'),
      campaign: name('campaign'),
      row_id: z
        .union([z.number().int(), z.string().trim().min(1).max(256)], {
          error: 'row_id must be an integer or a string',
        })
        .nullish(),
    },
    { error: 'the job must be a JSON object' },
  )
  .meta({ id: 'JobRequest', description: 'One upload job, as the original service accepted it.' });
export type JobRequest = z.infer<typeof JobRequestSchema>;

/** `POST /process-batch` takes a JSON array of jobs. */
export const BatchRequestSchema = z
  .array(z.unknown())
  .min(1, 'a batch needs at least one job')
  .meta({ id: 'BatchRequest', description: 'A JSON array of job requests.' });

export const TASK_STATES = [
  'queued',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
] as const;
export const TaskStateSchema = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskStateSchema>;
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
]);
export const ACTIVE_STATES: ReadonlySet<TaskState> = new Set(['queued', 'running', 'retrying']);
export const isTerminal = (state: TaskState) => TERMINAL_STATES.has(state);

export const StageSchema = z.enum(STAGES);

export const ProgressSchema = z
  .object({
    files_done: z.number().int().nonnegative(),
    files_total: z.number().int().nonnegative(),
    bytes_done: z.number().nonnegative(),
    bytes_total: z.number().nonnegative(),
    percent: z.number().min(0).max(100),
  })
  .meta({ id: 'Progress' });
export type Progress = z.infer<typeof ProgressSchema>;

export const TaskErrorSchema = z
  .object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    stage: StageSchema.optional(),
    retryable: z.boolean(),
    details: z.unknown().optional(),
  })
  .meta({ id: 'TaskError' });

export const TaskResultSchema = z
  .object({
    remote_path: z.string(),
    size: z.number().nonnegative(),
    sha256: z.string(),
    files: z.number().int().nonnegative(),
    skipped: z.boolean().optional(),
  })
  .meta({ id: 'TaskResult' });
export type TaskResult = z.infer<typeof TaskResultSchema>;

export const StageMarkSchema = z
  .object({
    attempt: z.number().int().positive(),
    stage: StageSchema,
    at: z.string().describe('When the attempt entered the stage (ISO 8601).'),
  })
  .meta({ id: 'StageMark', description: 'When an attempt entered a stage.' });
export type StageMark = z.infer<typeof StageMarkSchema>;

export const TaskRecordSchema = z
  .object({
    task_id: z.string(),
    job_id: z.string(),
    job: JobRequestSchema,
    state: TaskStateSchema,
    stage: StageSchema.nullable(),
    progress: ProgressSchema,
    attempts: z.number().int().nonnegative(),
    max_attempts: z.number().int().positive(),
    batch_id: z.string().nullable(),
    error: TaskErrorSchema.nullable(),
    result: TaskResultSchema.nullable(),
    cancel_requested: z.boolean(),
    worker: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    stages: z
      .array(StageMarkSchema)
      .optional()
      .describe(
        'When each stage of each attempt began, oldest first. Written with the coalesced progress writes and the final one, so it lists stages no write showed (the console timeline uses it).',
      ),
  })
  .meta({ id: 'TaskRecord', description: 'A submitted job and everything known about its run.' });
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

/** Fields a status store update may change. */
export type TaskPatch = Partial<Omit<TaskRecord, 'task_id' | 'job_id' | 'job' | 'created_at' | 'batch_id'>>;

/** A patch with the fields no update may change (ids, job, creation time, batch) dropped, whatever the caller passed. */
export function writablePatch(patch: TaskPatch): TaskPatch {
  const {
    task_id: _id,
    job_id: _job,
    job: _request,
    created_at: _created,
    batch_id: _batch,
    ...allowed
  } = patch as TaskPatch &
    Partial<Pick<TaskRecord, 'task_id' | 'job_id' | 'job' | 'created_at' | 'batch_id'>>;
  return allowed;
}

/** A new task record, `queued`, for a job. */
export function newTaskRecord(
  job: JobRequest,
  options: { taskId: string; batchId?: string | null; maxAttempts?: number; at?: string },
): TaskRecord {
  const at = options.at ?? new Date().toISOString();
  return {
    task_id: options.taskId,
    job_id: job.job_id,
    job,
    state: 'queued',
    stage: 'queue',
    progress: emptyProgress(),
    attempts: 0,
    max_attempts: Math.max(1, options.maxAttempts ?? 3),
    batch_id: options.batchId ?? null,
    error: null,
    result: null,
    cancel_requested: false,
    worker: null,
    created_at: at,
    updated_at: at,
    started_at: null,
    finished_at: null,
  };
}

export const BatchStatusSchema = z
  .object({
    batch_id: z.string(),
    total: z.number().int().nonnegative(),
    counts: z.record(TaskStateSchema, z.number().int().nonnegative()),
    completed: z.number().int().nonnegative(),
    percent: z.number().min(0).max(100),
    done: z.boolean(),
    task_ids: z.array(z.string()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'BatchStatus' });
export type BatchStatus = z.infer<typeof BatchStatusSchema>;

export const emptyProgress = (): Progress => ({
  files_done: 0,
  files_total: 0,
  bytes_done: 0,
  bytes_total: 0,
  percent: 0,
});

export const emptyCounts = (): Record<TaskState, number> => ({
  queued: 0,
  running: 0,
  retrying: 0,
  succeeded: 0,
  failed: 0,
  rejected: 0,
  cancelled: 0,
});

/** Build a batch status from its tasks' states. Shared by status stores that aggregate on read. */
export function aggregateBatch(
  batch: { batch_id: string; task_ids: string[]; created_at: string },
  states: TaskState[],
  updatedAt: string,
): BatchStatus {
  const counts = emptyCounts();
  for (const state of states) counts[state] += 1;
  const total = batch.task_ids.length;
  const completed = states.filter(isTerminal).length;
  return {
    batch_id: batch.batch_id,
    total,
    counts,
    completed,
    percent: total === 0 ? 100 : Math.round((completed / total) * 10000) / 100,
    done: completed === total,
    task_ids: [...batch.task_ids],
    created_at: batch.created_at,
    updated_at: updatedAt,
  };
}

/** Format zod issues as `field: message` lines, for people. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix = '',
): { field: string; message: string }[] {
  return issues.map((issue) => ({
    field: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)',
    message: issue.message,
  }));
}

/** Parse a job request or throw `INVALID_JOB` naming every bad field. */
export function parseJobRequest(input: unknown): JobRequest {
  const parsed = JobRequestSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const fields = formatIssues(parsed.error.issues);
  throw new UploadError(
    'INVALID_JOB',
    `Invalid job request: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`,
    { stage: 'admission', details: { fields } },
  );
}
