import { toUploadError } from '../errors.js';
import type { JobRequest } from '../job.js';
import { assertUniquePaths, baseName, safeRelativePath } from '../paths.js';
import type { OrganizeFunction } from '../pipeline-types.js';
import type { FileRef, LayoutEntry } from '../ports/file-ref.js';

/** Default layout: `{campaign}/{username}/{job_id}/{folder?}/{name}`. */
export const defaultOrganize: OrganizeFunction = (job: JobRequest, files: FileRef[]) =>
  files.map((file) => ({
    file,
    path: [job.campaign, job.username, job.job_id, file.folder, file.name ?? baseName(file.key)]
      .filter((part): part is string => typeof part === 'string' && part.length > 0)
      .join('/'),
  }));

/**
 * Step 2: turn files into safe, unique relative paths. Every path from
 * `organize` (and so from catalog names and keys) goes through
 * `safeRelativePath`; two files on the same path (after Unicode and case
 * folding) fail the job with `DUPLICATE_PATH`.
 */
export async function layoutFiles(
  job: JobRequest,
  files: FileRef[],
  organize: OrganizeFunction = defaultOrganize,
): Promise<LayoutEntry[]> {
  try {
    const entries = await organize(job, files);
    const safe = entries.map((entry) => ({ file: entry.file, path: safeRelativePath(entry.path) }));
    assertUniquePaths(safe.map((entry) => entry.path));
    return safe;
  } catch (error) {
    throw toUploadError(error, 'layout', 'UNSAFE_PATH');
  }
}
