/** A file the catalog says belongs to a job. */
export interface FileRef {
  /** Where storage finds it (an S3 key, a path relative to a folder). */
  key: string;
  /** The file name to use in the archive. Default: the last segment of `key`. */
  name?: string;
  /**
   * A relative folder path inside the job's folder, e.g. `images/front`.
   * The default `organize` puts the file at `{campaign}/{username}/{job_id}/{folder}/{name}`.
   */
  folder?: string;
  /** Size in bytes when the catalog knows it; checked against the bytes received. */
  size?: number;
  /** Anything else the catalog knows (content type, database id). */
  metadata?: Record<string, unknown>;
}

/** Where a file lands: the safe relative path used on disk, in the zip and at the destination. */
export interface LayoutEntry {
  file: FileRef;
  /** A normalised, relative, `/`-separated path with no `..`. */
  path: string;
}

/** Common options every port method takes. */
export interface CallOptions {
  /** Aborted when the task is cancelled or times out; implementations must stop promptly. */
  signal?: AbortSignal;
}
