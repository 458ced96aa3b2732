import { createMysqlCatalog, findPlaceholders } from '@ncr-upload/core/mysql';
import { rejectionOf, testCatalog } from '@ncr-upload/core/testing';
import { createTestDatabase } from '@ncr-upload/test-kit/mariadb';
import mysql from 'mysql2';
import { describe, expect, it } from 'vitest';
import type { JobOutcome } from '../src/ports/catalog.js';
import { mysqlExample, seededJob, useSeededDatabase } from './support/mysql.js';

const caught = rejectionOf;

testCatalog({
  name: 'mysql (MariaDB, injected pool)',
  create: async (fixtures) => {
    const db = await createTestDatabase();
    await db.exec(await mysqlExample('schema.sql'));
    for (const { job, files } of fixtures) {
      await db.pool.execute(
        'INSERT INTO jobs (job_id, row_id, username, campaign) VALUES (:job_id, :row_id, :username, :campaign)',
        { job_id: job.job_id, row_id: job.row_id ?? null, username: job.username, campaign: job.campaign },
      );
      for (const file of files) {
        await db.pool.execute(
          'INSERT INTO job_files (job_id, file_key, file_size) VALUES (:job_id, :key, :size)',
          {
            job_id: job.job_id,
            key: file.key,
            size: file.size,
          },
        );
      }
    }
    return { catalog: createMysqlCatalog({ pool: db.pool }), cleanup: () => db.drop() };
  },
});

describe('createMysqlCatalog', () => {
  const database = useSeededDatabase();
  const sample = seededJob;

  it('lists the seeded sample job with the default SQL, in order', async () => {
    const catalog = createMysqlCatalog({ connection: database.db.uri });
    try {
      expect(await catalog.listFiles(sample)).toEqual([
        { key: 'uploads/spring-2025/alice/job-1001/front.jpg', size: 2048, folder: 'images' },
        { key: 'uploads/spring-2025/alice/job-1001/back.jpg', size: 1024, folder: 'images' },
        {
          key: 'uploads/spring-2025/alice/job-1001/consent-form.pdf',
          name: 'consent.pdf',
          size: 512,
          folder: 'documents',
        },
      ]);
      await expect(catalog.ping!()).resolves.toBeUndefined();
    } finally {
      await catalog.close!();
    }
    // Closed: the pool it created is gone.
    expect(await caught(catalog.listFiles(sample))).toMatchObject({ code: 'CATALOG_ERROR' });
  });

  it('binds job fields as parameters: an injection attempt finds nothing', async () => {
    const catalog = createMysqlCatalog({ pool: database.db.pool });
    expect(await catalog.listFiles({ ...sample, job_id: "x' OR '1'='1" })).toEqual([]);
    expect(await catalog.listFiles({ ...sample, job_id: 'job-1001" OR "1"="1' })).toEqual([]);
    const byUser = createMysqlCatalog({
      pool: database.db.pool,
      listFilesSql:
        'SELECT f.file_key AS `key` FROM job_files f JOIN jobs j ON j.job_id = f.job_id WHERE j.username = :username',
    });
    expect(await byUser.listFiles({ ...sample, username: "alice' OR 1=1 -- " })).toEqual([]);
    expect(await byUser.listFiles(sample)).toHaveLength(3);
    // The injected pool is still usable after close().
    await catalog.close!();
    const [rows] = await database.db.pool.query('SELECT COUNT(*) AS n FROM job_files');
    expect(rows).toEqual([{ n: 3 }]);
  });

  it('maps custom columns, uses every job placeholder and keeps other columns as metadata', async () => {
    const catalog = createMysqlCatalog({
      pool: database.db.pool,
      listFilesSql: `SELECT f.id, f.file_key AS object_key, f.file_name AS display, f.file_size AS bytes,
          CONCAT(j.campaign, ':', f.folder) AS dir, 'x:y' AS literal
        FROM job_files f JOIN jobs j ON j.job_id = f.job_id
        WHERE f.job_id = :job_id AND j.row_id = :row_id AND j.username = :username AND j.campaign = :campaign
        ORDER BY f.id DESC LIMIT 1`,
      columns: { key: 'object_key', name: 'display', size: 'bytes', folder: 'dir' },
    });
    const [file] = await catalog.listFiles(sample);
    expect(file).toEqual({
      key: 'uploads/spring-2025/alice/job-1001/consent-form.pdf',
      name: 'consent.pdf',
      size: 512,
      folder: 'spring-2025:documents',
      metadata: { id: 3, literal: 'x:y' },
    });
    expect(await catalog.listFiles({ ...sample, row_id: 9 })).toEqual([]);
  });

  it('accepts a callback-style mysql2 pool', async () => {
    const pool = mysql.createPool({ uri: database.db.uri, connectionLimit: 1 });
    try {
      expect(await createMysqlCatalog({ pool }).listFiles(sample)).toHaveLength(3);
    } finally {
      await new Promise((resolve) => pool.end(resolve));
    }
  });

  it('rejects unknown placeholders, "?" and a missing pool with CONFIG_INVALID', () => {
    expect(() =>
      createMysqlCatalog({
        pool: database.db.pool,
        listFilesSql: 'SELECT file_key AS `key` FROM job_files WHERE job_id = :jobid',
      }),
    ).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(':jobid') }),
    );
    expect(() =>
      createMysqlCatalog({ pool: database.db.pool, reportResultSql: 'UPDATE jobs SET status = :status' }),
    ).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(':status') }),
    );
    expect(() =>
      createMysqlCatalog({
        pool: database.db.pool,
        listFilesSql: 'SELECT file_key AS `key` FROM job_files WHERE job_id = ?',
      }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => createMysqlCatalog({})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => createMysqlCatalog({ pool: database.db.pool, connection: database.db.uri })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    // Inside quotes a colon is text, not a placeholder.
    expect(findPlaceholders("SELECT '12:30', \"a:b\", 'it''s :no' WHERE x = :job_id")).toEqual({
      named: ['job_id'],
      positional: 0,
    });
  });

  it('a row with an empty key or a bad size is a CATALOG_ERROR naming the row', async () => {
    const empty = createMysqlCatalog({
      pool: database.db.pool,
      listFilesSql:
        "SELECT id, IF(id = 2, '', file_key) AS `key` FROM job_files WHERE job_id = :job_id ORDER BY id",
    });
    const error = await caught(empty.listFiles(sample));
    expect(error).toMatchObject({ code: 'CATALOG_ERROR', retryable: false, stage: 'resolve' });
    expect(error.message).toContain('row 2 (id 2)');
    expect(error.message).toContain('empty key');

    const negative = createMysqlCatalog({
      pool: database.db.pool,
      listFilesSql: 'SELECT file_key AS `key`, -5 AS size FROM job_files WHERE job_id = :job_id',
    });
    expect((await caught(negative.listFiles(sample))).message).toContain('invalid size');
  });

  it('SQL errors are CATALOG_ERROR, not retryable, with the MySQL code', async () => {
    const catalog = createMysqlCatalog({
      pool: database.db.pool,
      listFilesSql: 'SELECT file_key AS `key` FROM no_such_table WHERE job_id = :job_id',
    });
    const error = await caught(catalog.listFiles(sample));
    expect(error).toMatchObject({ code: 'CATALOG_ERROR', retryable: false, stage: 'resolve' });
    expect(error.message).toContain('ER_NO_SUCH_TABLE');
    expect(error.details).toMatchObject({ mysql_code: 'ER_NO_SUCH_TABLE', errno: 1146 });
    const update = createMysqlCatalog({ pool: database.db.pool, listFilesSql: 'DO :job_id' });
    expect(await caught(update.listFiles(sample))).toMatchObject({ code: 'CATALOG_ERROR', retryable: false });
  });

  it('reportResult writes the outcome to the row', async () => {
    const catalog = createMysqlCatalog({
      pool: database.db.pool,
      reportResultSql:
        'UPDATE jobs SET status = :state, task_id = :task_id, remote_path = :remote_path, sha256 = :sha256, size = :size, error_code = :error_code, error = :error_message WHERE job_id = :job_id',
    });
    const succeeded: JobOutcome = {
      task_id: 'task-1',
      state: 'succeeded',
      result: { remote_path: 'spring-2025/alice/job-1001.zip', size: 3584, sha256: 'a'.repeat(64), files: 3 },
      error: null,
    };
    await catalog.reportResult!(sample, succeeded);
    const read = async () => {
      const [rows] = await database.db.pool.query(
        "SELECT status, task_id, remote_path, sha256, size, error_code, error FROM jobs WHERE job_id = 'job-1001'",
      );
      return (rows as Record<string, unknown>[])[0];
    };
    expect(await read()).toEqual({
      status: 'succeeded',
      task_id: 'task-1',
      remote_path: 'spring-2025/alice/job-1001.zip',
      sha256: 'a'.repeat(64),
      size: 3584,
      error_code: null,
      error: null,
    });
    await catalog.reportResult!(sample, {
      task_id: 'task-2',
      state: 'failed',
      result: null,
      error: { code: 'FILE_NOT_FOUND', message: "File 'x' is missing.", stage: 'fetch', retryable: false },
    });
    expect(await read()).toMatchObject({
      status: 'failed',
      task_id: 'task-2',
      remote_path: null,
      error_code: 'FILE_NOT_FOUND',
      error: "File 'x' is missing.",
    });
    expect(createMysqlCatalog({ pool: database.db.pool }).reportResult).toBeUndefined();
  });

  it('an aborted signal cancels the call', async () => {
    const catalog = createMysqlCatalog({ pool: database.db.pool });
    expect(await caught(catalog.listFiles(sample, { signal: AbortSignal.abort() }))).toMatchObject({
      code: 'CANCELLED',
    });
  });
});
