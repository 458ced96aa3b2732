import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@ncr-upload/test-kit/mariadb';
import { afterAll, beforeAll } from 'vitest';
import type { JobRequest } from '../../src/job.js';

/** An SQL file of `examples/mysql`. */
export const mysqlExample = (file: string) =>
  readFile(fileURLToPath(new URL(`../../../../examples/mysql/${file}`, import.meta.url)), 'utf8');

/** The first job of `examples/mysql/seed.sql` (three files). */
export const seededJob: JobRequest = {
  job_id: 'job-1001',
  row_id: 1001,
  username: 'alice',
  campaign: 'spring-2025',
};

/** A fresh database with the example schema and seed for the enclosing suite; read `.db` inside tests. */
export function useSeededDatabase(): { readonly db: TestDatabase } {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.exec(await mysqlExample('schema.sql'));
    await db.exec(await mysqlExample('seed.sql'));
  });
  afterAll(async () => {
    await db?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('The seeded database is only ready inside tests.');
      return db;
    },
  };
}
