import { UploadError } from '../errors.js';
import type { JobRequest } from '../job.js';
import { baseName, safeSegment } from '../paths.js';
import type { Catalog } from '../ports/catalog.js';
import type { CallOptions, FileRef } from '../ports/file-ref.js';
import type { Storage } from '../ports/storage.js';
import { throwIfAborted } from './fs-errors.js';

export interface PrefixCatalogOptions {
  /** Storage with a `list` method (folder storage, S3). Required. */
  storage: Storage;
  /**
   * The prefix that holds a job's files. A `/` is appended when missing, so
   * `a/b` never matches `a/bc/...`. Default: `{campaign}/{username}/{job_id}/`,
   * where each field must be a single safe path segment (else `UNSAFE_PATH`).
   */
  prefix?: (job: JobRequest) => string;
}

function segment(value: string): string {
  try {
    return safeSegment(value);
  } catch (error) {
    if (error instanceof UploadError) error.stage = 'resolve';
    throw error;
  }
}

/** The default prefix: `{campaign}/{username}/{job_id}/`. */
export function defaultJobPrefix(job: JobRequest): string {
  return `${segment(job.campaign)}/${segment(job.username)}/${segment(job.job_id)}/`;
}

/**
 * A catalog that lists a job's files from a storage prefix. Each file keeps
 * the sub-folder it has below the prefix as `folder`, so nested structure
 * survives into the archive.
 */
export function createPrefixCatalog(options: PrefixCatalogOptions): Catalog {
  const storage = options?.storage;
  if (!storage || typeof storage.list !== 'function') {
    throw new UploadError(
      'CONFIG_INVALID',
      'createPrefixCatalog needs a storage that can list files (its `list` method is missing). Use a folder or S3 storage, or a static catalog.',
    );
  }
  const list = storage.list.bind(storage);
  const prefixOf = options.prefix ?? defaultJobPrefix;

  return {
    async listFiles(job: JobRequest, callOptions: CallOptions = {}): Promise<FileRef[]> {
      throwIfAborted(callOptions.signal, 'resolve');
      let prefix = prefixOf(job);
      if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
      const files: FileRef[] = [];
      for await (const file of list(prefix, callOptions)) {
        if (!file.key.startsWith(prefix)) continue;
        const below = file.key.slice(prefix.length);
        // Skip folder markers (`x/`, zero-byte keys some S3 tools create).
        if (below === '' || below.endsWith('/')) continue;
        const cut = below.lastIndexOf('/');
        const folder = cut === -1 ? undefined : below.slice(0, cut);
        const ref: FileRef = { ...file, name: baseName(below) };
        if (folder !== undefined) ref.folder = folder;
        else delete ref.folder;
        files.push(ref);
      }
      return files;
    },
  };
}

/** Files per job id, or a function of the job. */
export type StaticCatalogSource =
  | Readonly<Record<string, readonly FileRef[]>>
  | ((job: JobRequest) => readonly FileRef[] | Promise<readonly FileRef[]>);

/**
 * A catalog from a fixed map `job_id → files` (or a function), for tests,
 * examples and hosts that already know the files. Unknown job ids have no files.
 */
export function createStaticCatalog(source: StaticCatalogSource): Catalog {
  return {
    async listFiles(job: JobRequest, callOptions: CallOptions = {}): Promise<FileRef[]> {
      throwIfAborted(callOptions.signal, 'resolve');
      const files =
        typeof source === 'function'
          ? await source(job)
          : Object.hasOwn(source, job.job_id)
            ? source[job.job_id]
            : undefined;
      return (files ?? []).map((file) => ({ ...file }));
    },
  };
}
