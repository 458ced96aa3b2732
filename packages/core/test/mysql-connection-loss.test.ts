import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createMysqlCatalog } from '@ncr-upload/core/mysql';
import { rejectionOf } from '@ncr-upload/core/testing';
import { type MariadbHandle, startMariadb } from '@ncr-upload/test-kit/mariadb';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadError } from '../src/errors.js';
import type { Catalog } from '../src/ports/catalog.js';

const PASSWORD = 'pw-Secret-4711';
const job = { job_id: 'job-1001', row_id: 1001, username: 'alice', campaign: 'spring-2025' };

const caught = rejectionOf;

const example = (file: string) =>
  readFile(fileURLToPath(new URL(`../../../examples/mysql/${file}`, import.meta.url)), 'utf8');

/** Nothing about the connection (user, password, URI) may leak into what callers see. */
function expectNoSecrets(error: UploadError) {
  const visible = JSON.stringify(error.toJSON());
  expect(visible).not.toContain(PASSWORD);
  expect(visible).not.toContain('mysql://');
}

describe('createMysqlCatalog on a MariaDB that goes away (own instance)', () => {
  let server: MariadbHandle;
  let uri: string;
  let catalog: Catalog;

  beforeAll(async () => {
    server = await startMariadb();
    const admin = await mysql.createConnection({ uri: server.url, multipleStatements: true });
    await admin.query(`CREATE DATABASE catalog;
      CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';
      GRANT SELECT, UPDATE ON catalog.* TO 'app'@'127.0.0.1';
      USE catalog;
      ${await example('schema.sql')}
      ${await example('seed.sql')}`);
    await admin.end();
    uri = `mysql://app:${PASSWORD}@127.0.0.1:${server.port}/catalog`;
    catalog = createMysqlCatalog({ connection: uri });
  });

  afterAll(async () => {
    await catalog?.close?.();
    await server?.dispose();
  });

  it('reads through a pool it created from a URI with a password', async () => {
    expect(await catalog.listFiles(job)).toHaveLength(3);
  });

  it('a SQL error is not retryable, carries the MySQL code and no secret', async () => {
    const bad = createMysqlCatalog({
      connection: uri,
      listFilesSql: 'SELEC file_key FROM job_files WHERE job_id = :job_id',
    });
    try {
      const error = await caught(bad.listFiles(job));
      expect(error).toMatchObject({ code: 'CATALOG_ERROR', retryable: false });
      expect(error.message).toContain('ER_PARSE_ERROR');
      expectNoSecrets(error);
    } finally {
      await bad.close!();
    }
  });

  it('a wrong password is ACCESS_DENIED, not retryable, and the password is not shown', async () => {
    const wrong = createMysqlCatalog({ connection: uri.replace(PASSWORD, `${PASSWORD}-wrong`) });
    try {
      const error = await caught(wrong.listFiles(job));
      expect(error).toMatchObject({ code: 'ACCESS_DENIED', retryable: false });
      expect(error.message).toContain('ER_ACCESS_DENIED_ERROR');
      expectNoSecrets(error);
    } finally {
      await wrong.close!();
    }
  });

  it('losing the server is a retryable CATALOG_ERROR; it works again once the server is back', async () => {
    await server.stop();
    const error = await caught(catalog.listFiles(job));
    expect(error).toMatchObject({ code: 'CATALOG_ERROR', retryable: true, stage: 'resolve' });
    expect(error.message).toMatch(/ECONNREFUSED|PROTOCOL_CONNECTION_LOST/);
    expectNoSecrets(error);
    const ping = await caught(catalog.ping!());
    expect(ping).toMatchObject({ code: 'CATALOG_ERROR', retryable: true });

    await server.start();
    expect(await catalog.listFiles(job)).toHaveLength(3);
  });
});
