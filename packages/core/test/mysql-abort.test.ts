import { createMysqlCatalog } from '@ncr-upload/core/mysql';
import { rejectionOf, waitFor } from '@ncr-upload/core/testing';
import { describe, expect, it } from 'vitest';
import { seededJob as sample, useSeededDatabase } from './support/mysql.js';

// Each statement sleeps far longer than the test may run: only a server-side kill ends it in time.
const SLOW_SELECT =
  'SELECT file_key AS `key`, file_size AS size FROM job_files WHERE job_id = :job_id AND SLEEP(120) = 0';
const SLOW_UPDATE = 'UPDATE jobs SET status = :state WHERE job_id = :job_id AND SLEEP(120) = 0';

describe('mysql catalog: an aborted statement is stopped on the server', () => {
  const database = useSeededDatabase();

  /** Statements of other connections still running the slow SQL. */
  const running = async (): Promise<number> => {
    const [rows] = await database.db.pool.query(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND DB = DATABASE() AND INFO LIKE '%SLEEP(120)%'",
    );
    return Number((rows as { n: number }[])[0]?.n);
  };

  it('listFiles: the abort rejects with the reason and KILL QUERY ends the SELECT', async () => {
    const catalog = createMysqlCatalog({ pool: database.db.pool, listFilesSql: SLOW_SELECT });
    const controller = new AbortController();
    const listing = rejectionOf(catalog.listFiles(sample, { signal: controller.signal }));
    await waitFor(async () => (await running()) === 1, { message: 'the SELECT to run' });
    controller.abort();
    expect(await listing).toMatchObject({ code: 'CANCELLED', stage: 'resolve' });
    await waitFor(async () => (await running()) === 0, {
      message: 'the SELECT to be killed',
      timeoutMs: 20_000,
    });
    // The pool still serves statements: the killed connection was dropped, not reused.
    const fresh = createMysqlCatalog({ pool: database.db.pool });
    expect(await fresh.listFiles(sample, { signal: new AbortController().signal })).toHaveLength(3);
  });

  it('reportResult on its own pool: the abort keeps the reason and the UPDATE changes nothing', async () => {
    const catalog = createMysqlCatalog({ connection: database.db.uri, reportResultSql: SLOW_UPDATE });
    try {
      const [before] = await database.db.pool.query("SELECT status FROM jobs WHERE job_id = 'job-1001'");
      const controller = new AbortController();
      const reporting = rejectionOf(
        catalog.reportResult!(
          sample,
          { task_id: 't-1', state: 'succeeded', result: null, error: null },
          { signal: controller.signal },
        ),
      );
      await waitFor(async () => (await running()) === 1, { message: 'the UPDATE to run' });
      const reason = new Error('stop now');
      controller.abort(reason);
      expect(await reporting).toMatchObject({ code: 'CANCELLED', stage: 'report', cause: reason });
      await waitFor(async () => (await running()) === 0, {
        message: 'the UPDATE to be killed',
        timeoutMs: 20_000,
      });
      const [after] = await database.db.pool.query("SELECT status FROM jobs WHERE job_id = 'job-1001'");
      expect(after).toEqual(before);
    } finally {
      await catalog.close?.();
    }
  });
});
