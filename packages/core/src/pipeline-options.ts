import { z } from 'zod';
import { UploadError } from './errors.js';
import { formatIssues } from './job.js';

/** Node runs a timer longer than this after 1 ms: every timeout must fit. */
export const MAX_TIMER_MS = 2_147_483_647;

const count = z.number().int().min(1);
const milliseconds = z
  .number()
  .int()
  .min(1)
  .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days)`);

/** The numeric settings of `createUploadPipeline`, checked at creation so a bad one fails loudly, not at run time. */
const NumericOptionsSchema = z.object({
  concurrency: count.optional(),
  fetchConcurrency: count.optional(),
  compressionLevel: z.number().int().min(0).max(9).optional(),
  compression: z.enum(['store', 'deflate', 'auto']).optional(),
  deliveryOverlap: z.boolean().optional(),
  inMemoryMaxBytes: z.number().int().min(0).optional(),
  jobTimeoutMs: milliseconds.optional(),
  batchSize: count.optional(),
  batchTimeoutMs: milliseconds.optional(),
  maxMemoryPercent: z.number().gt(0).max(100).optional(),
  maxQueued: z.number().int().min(0).optional(),
  cancelCheckIntervalMs: milliseconds.optional(),
  progressIntervalMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
  staleTempMs: z.number().int().min(0).optional(),
  retry: z
    .object({
      attempts: count.optional(),
      baseDelayMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
      maxDelayMs: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
      factor: z.number().min(1).optional(),
    })
    .optional(),
});

/** Throw `CONFIG_INVALID` naming every bad numeric option. */
export function checkPipelineOptions(options: unknown): void {
  const parsed = NumericOptionsSchema.safeParse(options);
  if (parsed.success) return;
  const fields = formatIssues(parsed.error.issues);
  throw new UploadError(
    'CONFIG_INVALID',
    `Invalid pipeline options: ${fields.map((field) => `${field.field}: ${field.message}`).join('; ')}`,
    { details: { fields } },
  );
}
