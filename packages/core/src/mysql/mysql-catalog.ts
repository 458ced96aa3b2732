import type { Pool as CallbackPool } from 'mysql2';
import type { Pool, PoolOptions } from 'mysql2/promise';
import { z } from 'zod';
import { UploadError } from '../errors.js';
import type { JobRequest } from '../job.js';
import type { Catalog, JobOutcome } from '../ports/catalog.js';
import type { CallOptions, FileRef } from '../ports/file-ref.js';
import { toCatalogError } from './mysql-errors.js';
import { checkPlaceholders, JOB_PLACEHOLDERS, REPORT_PLACEHOLDERS } from './placeholders.js';
import { type ColumnNames, rowToFileRef } from './rows.js';
import { abortable, runStatement } from './statement.js';

/** The default `listFilesSql`, for the tables in `examples/mysql/schema.sql`. */
export const DEFAULT_LIST_FILES_SQL =
  'SELECT file_key AS `key`, file_name AS name, file_size AS size, folder FROM job_files WHERE job_id = :job_id ORDER BY id';

export interface MysqlCatalogOptions {
  /** A mysql2 pool (promise or callback API) you own: used, never closed by the catalog. Give this or `connection`. */
  pool?: Pool | CallbackPool;
  /**
   * Pool options or a `mysql://user:password@host:port/database` URI: the
   * catalog creates the pool on first use and ends it in `close()`. Give this or `pool`.
   */
  connection?: PoolOptions | string;
  /**
   * The SELECT that lists a job's files, with named placeholders `:job_id`,
   * `:row_id`, `:username`, `:campaign`. Columns are read by the names in
   * `columns`; any other column lands in the file's `metadata`.
   * Default {@link DEFAULT_LIST_FILES_SQL}.
   */
  listFilesSql?: string;
  /**
   * Optional statement run when a task ends (enables `reportResult`), e.g.
   * `UPDATE jobs SET status = :state, remote_path = :remote_path WHERE job_id = :job_id`.
   * Placeholders: the job's, plus `:task_id`, `:state`, `:remote_path`, `:sha256`,
   * `:size`, `:files`, `:error_code`, `:error_message` (NULL when not applicable).
   * Default none.
   */
  reportResultSql?: string;
  /** Result column names. Default `{ key: 'key', name: 'name', size: 'size', folder: 'folder' }`. */
  columns?: Partial<ColumnNames>;
}

const OptionsSchema = z.object({
  pool: z.custom<Pool | CallbackPool>((value) => typeof value === 'object' && value !== null).optional(),
  connection: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  listFilesSql: z.string().trim().min(1).default(DEFAULT_LIST_FILES_SQL),
  reportResultSql: z.string().trim().min(1).optional(),
  columns: z
    .object({
      key: z.string().min(1).default('key'),
      name: z.string().min(1).default('name'),
      size: z.string().min(1).default('size'),
      folder: z.string().min(1).default('folder'),
    })
    .default({ key: 'key', name: 'name', size: 'size', folder: 'folder' }),
});

function configError(message: string): UploadError {
  return new UploadError('CONFIG_INVALID', message);
}

/** A catalog that reads a job's files from MySQL / MariaDB; see docs/adapters/mysql.md. */
export function createMysqlCatalog(options: MysqlCatalogOptions): Catalog {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`,
    );
    throw configError(`Invalid MySQL catalog options: ${issues.join('; ')}.`);
  }
  const config = parsed.data;
  if ((config.pool === undefined) === (options.connection === undefined)) {
    throw configError(
      'The MySQL catalog needs exactly one of `pool` (yours) or `connection` (options or a URI).',
    );
  }
  checkPlaceholders('listFilesSql', config.listFilesSql, JOB_PLACEHOLDERS);
  if (config.reportResultSql)
    checkPlaceholders('reportResultSql', config.reportResultSql, REPORT_PLACEHOLDERS);

  const injected = options.pool
    ? typeof (options.pool as CallbackPool).promise === 'function'
      ? (options.pool as CallbackPool).promise()
      : (options.pool as Pool)
    : undefined;
  let owned: Promise<Pool> | undefined;
  let closed = false;

  const getPool = async (): Promise<Pool> => {
    if (injected) return injected;
    if (closed) throw new UploadError('CATALOG_ERROR', 'The MySQL catalog is closed.');
    owned ??= import('mysql2/promise').then((module) => {
      const mysql = (module as unknown as { default?: typeof module }).default ?? module;
      const connection = options.connection!;
      try {
        return typeof connection === 'string'
          ? mysql.createPool({ uri: connection, namedPlaceholders: true })
          : mysql.createPool({ ...connection, namedPlaceholders: true });
      } catch {
        // The message could quote the URI, password included.
        throw configError('The MySQL connection options are invalid (check the URI or the pool options).');
      }
    });
    return owned;
  };

  const jobParameters = (job: JobRequest) => ({
    job_id: job.job_id,
    row_id: job.row_id ?? null,
    username: job.username,
    campaign: job.campaign,
  });

  const catalog: Catalog = {
    async listFiles(job: JobRequest, callOptions: CallOptions = {}): Promise<FileRef[]> {
      const doing = `listing the files of job "${job.job_id}"`;
      let rows: unknown;
      try {
        const pool = await getPool();
        rows = await runStatement(
          pool,
          config.listFilesSql,
          jobParameters(job),
          callOptions.signal,
          'resolve',
        );
      } catch (error) {
        if (error instanceof UploadError) throw error;
        throw toCatalogError(error, doing);
      }
      // A CALL returns its result sets followed by a status: take the first set.
      if (Array.isArray(rows) && Array.isArray(rows[0])) rows = rows[0];
      if (!Array.isArray(rows)) {
        throw new UploadError(
          'CATALOG_ERROR',
          'listFilesSql returned no result set; it must be a SELECT (or a CALL that selects).',
          {
            stage: 'resolve',
          },
        );
      }
      return rows.map((row, index) => rowToFileRef(row, index, config.columns, job.job_id));
    },

    async ping(callOptions: CallOptions = {}): Promise<void> {
      try {
        const pool = await getPool();
        await abortable(pool.query('SELECT 1'), callOptions.signal, 'resolve');
      } catch (error) {
        if (error instanceof UploadError) throw error;
        throw toCatalogError(error, 'checking the database connection');
      }
    },

    async close(): Promise<void> {
      if (injected || closed) return;
      closed = true;
      const pending = owned;
      owned = undefined;
      if (pending) await (await pending.catch(() => undefined))?.end();
    },
  };

  const reportSql = config.reportResultSql;
  if (reportSql) {
    catalog.reportResult = async (job: JobRequest, outcome: JobOutcome, callOptions: CallOptions = {}) => {
      const parameters = {
        ...jobParameters(job),
        task_id: outcome.task_id,
        state: outcome.state,
        remote_path: outcome.result?.remote_path ?? null,
        sha256: outcome.result?.sha256 ?? null,
        size: outcome.result?.size ?? null,
        files: outcome.result?.files ?? null,
        error_code: outcome.error?.code ?? null,
        error_message: outcome.error?.message ?? null,
      };
      try {
        const pool = await getPool();
        await runStatement(pool, reportSql, parameters, callOptions.signal, 'report');
      } catch (error) {
        if (error instanceof UploadError) throw error;
        throw toCatalogError(error, `reporting the result of job "${job.job_id}"`, 'report');
      }
    };
  }
  return catalog;
}
