import { UploadError } from './errors.js';
import type { JobRequest } from './job.js';
import { safeRelativePath, safeSegment } from './paths.js';

/** Longest file or folder name a destination accepts (ext4, XFS, APFS, NTFS and SFTP servers on them): 255 bytes. */
export const MAX_NAME_BYTES = 255;
/** Suffix of the file a delivery writes before renaming it (see `Destination.upload`). */
const PARTIAL_SUFFIX = '.partial';
const ID_FIELDS = ['job_id', 'username', 'campaign'] as const;
/** Stands in for the task id when a custom `remotePath` uses it: a UUID's length. */
const PLACEHOLDER_TASK_ID = '00000000-0000-0000-0000-000000000000';

export interface DeliverableOptions {
  remotePath: (job: JobRequest, taskId: string) => string;
  /** The default layout or remote path is used: every id becomes a folder or file name. */
  idsAreNames: boolean;
}

type FieldProblem = { field: string; message: string };

/** The reason of a path-safety error, without the path and the advice meant for catalog files. */
const reasonOf = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split(': ')[0]!.toLowerCase();

function nameProblems(job: JobRequest, options: DeliverableOptions): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (options.idsAreNames) {
    for (const field of ID_FIELDS) {
      try {
        safeSegment(job[field]);
      } catch (error) {
        problems.push({ field, message: `${field} cannot be a file or folder name (${reasonOf(error)})` });
      }
    }
    if (problems.length > 0) return problems;
  }
  let path: string;
  try {
    path = safeRelativePath(options.remotePath(job, PLACEHOLDER_TASK_ID));
  } catch (error) {
    return [{ field: 'job_id', message: `the delivery path of this job is not safe (${reasonOf(error)})` }];
  }
  const segments = path.split('/');
  segments[segments.length - 1] += PARTIAL_SUFFIX;
  for (const segment of segments) {
    const bytes = Buffer.byteLength(segment);
    if (bytes <= MAX_NAME_BYTES) continue;
    const field = ID_FIELDS.find((name) => segment.includes(job[name])) ?? 'job_id';
    const room = Buffer.byteLength(job[field]) - (bytes - MAX_NAME_BYTES);
    problems.push({
      field,
      message: `${field} is too long for the destination: the name "${segment.slice(0, 40)}…" would be ${bytes} bytes, over the ${MAX_NAME_BYTES}-byte limit of a file name (${field} may be at most ${Math.max(room, 0)} bytes here)`,
    });
  }
  return problems;
}

/**
 * Refuse at submission a job that could never be delivered: an id that cannot be a
 * file or folder name (`..`, `/`, control characters, a trailing dot or space), or a
 * delivery name (with its `.partial` suffix) over `MAX_NAME_BYTES`. Throws `INVALID_JOB`
 * naming the field and the limit, so the client learns it now rather than from a failed task.
 */
export function assertDeliverable(job: JobRequest, options: DeliverableOptions): void {
  const fields = nameProblems(job, options);
  if (fields.length === 0) return;
  throw new UploadError(
    'INVALID_JOB',
    `Invalid job request: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`,
    { stage: 'admission', details: { fields } },
  );
}
