import { toUploadError, UploadError } from '../errors.js';
import type { Catalog } from '../ports/catalog.js';
import type { FileRef } from '../ports/file-ref.js';
import type { StepContext } from './context.js';

/** Step 1: ask the catalog which files belong to the job. */
export async function resolveFiles(catalog: Catalog, context: StepContext): Promise<FileRef[]> {
  context.progress.stage('resolve');
  let files: FileRef[];
  try {
    files = await catalog.listFiles(context.job, { signal: context.signal });
  } catch (error) {
    throw toUploadError(error, 'resolve', 'CATALOG_ERROR');
  }
  if (!Array.isArray(files) || files.length === 0) {
    throw new UploadError(
      'NO_FILES',
      `No files found for job ${JSON.stringify(context.job.job_id)}. Check the job's rows in the catalog (or the storage prefix).`,
      { stage: 'resolve' },
    );
  }
  return files;
}
