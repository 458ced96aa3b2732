import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUploadError } from '@ncr-upload/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskConfig } from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const none = { envFile: false as const };

function problems(env: Record<string, string>): { name: string; problem: string }[] {
  try {
    loadConfig(env, none);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(isUploadError(error) && error.code).toBe('CONFIG_INVALID');
    return (error as ConfigError).problems;
  }
  throw new Error('loadConfig accepted a bad configuration');
}

describe('loadConfig', () => {
  it('gives the documented defaults with nothing set', () => {
    const config = loadConfig({}, none);
    expect(config.api).toEqual({ host: '0.0.0.0', port: 8001, key: undefined });
    expect(config.memory.maxPercent).toBe(80);
    expect(config.worker).toMatchObject({
      concurrency: 4,
      maxMemoryPerChildKb: 200_000,
      maxTasksPerChild: 1000,
      isolation: 'inline',
      shutdownTimeoutMs: 30_000,
    });
    expect(config.batch).toEqual({ size: 5, timeoutMs: 300_000 });
    expect(config.dataDir).toBe('./data');
    expect(config.deliveryOverlap).toBe(true);
    for (const part of [config.redis, config.s3, config.sftp, config.database, config.validator])
      expect(part).toBeUndefined();
  });

  it('reads DELIVERY_OVERLAP and refuses anything but a boolean', () => {
    expect(loadConfig({ DELIVERY_OVERLAP: 'false' }, none).deliveryOverlap).toBe(false);
    expect(loadConfig({ DELIVERY_OVERLAP: '1' }, none).deliveryOverlap).toBe(true);
    expect(problems({ DELIVERY_OVERLAP: 'sometimes' }).map((entry) => entry.name)).toEqual([
      'DELIVERY_OVERLAP',
    ]);
  });

  it('reports every bad variable at once', () => {
    const found = problems({
      API_PORT: 'eighty',
      MAX_MEMORY_USAGE_PERCENT: '150',
      WORKER_CONCURRENCY: '0',
      WORKER_ISOLATION: 'thread',
      BATCH_TIMEOUT: '-5',
      REDIS_URL: 'http://localhost:6379',
      S3_ACCESS_KEY_ID: 'AKIA-secret-id',
      SFTP_HOST: 'sftp.example.com',
      VALIDATOR_URL: 'not a url',
      LOG_LEVEL: 'loud',
    });
    const names = found.map((entry) => entry.name).sort();
    expect(names).toEqual(
      [
        'API_PORT',
        'BATCH_TIMEOUT',
        'LOG_LEVEL',
        'MAX_MEMORY_USAGE_PERCENT',
        'REDIS_URL',
        'S3_BUCKET',
        'S3_SECRET_ACCESS_KEY',
        'SFTP_HOST_FINGERPRINT',
        'SFTP_PASSWORD',
        'SFTP_USERNAME',
        'VALIDATOR_URL',
        'WORKER_CONCURRENCY',
        'WORKER_ISOLATION',
      ].sort(),
    );
    // No value is echoed back (the key id is a secret).
    expect(JSON.stringify(found)).not.toContain('AKIA-secret-id');
  });

  it('names the alias the user actually set', () => {
    const found = problems({ CELERY_WORKER_CONCURRENCY: 'many', CELERY_WORKER_MAX_MEMORY_PER_CHILD: '12' });
    expect(found.map((entry) => entry.name).sort()).toEqual([
      'CELERY_WORKER_CONCURRENCY',
      'CELERY_WORKER_MAX_MEMORY_PER_CHILD',
    ]);
  });

  it('accepts the CELERY_* aliases; the new name wins over the alias', () => {
    const config = loadConfig(
      {
        CELERY_WORKER_CONCURRENCY: '8',
        CELERY_WORKER_MAX_TASKS_PER_CHILD: '50',
        WORKER_MAX_TASKS_PER_CHILD: '60',
      },
      none,
    );
    expect(config.worker.concurrency).toBe(8);
    expect(config.worker.maxTasksPerChild).toBe(60);
  });

  it('reads .env, with the environment winning, and builds URLs from REDIS_HOST/PORT and DB_*', async () => {
    const envFile = join(dir, '.env');
    await writeFile(
      envFile,
      'API_PORT=9000\nREDIS_HOST=redis\nREDIS_PORT=6380\nDB_HOST=db\nDB_USER=app\nDB_PASSWORD="p@ss word"\nDB_NAME=jobs\nEMPTY=\n',
    );
    const config = loadConfig({ API_PORT: '9100' }, { envFile });
    expect(config.api.port).toBe(9100);
    expect(config.redis?.url).toBe('redis://redis:6380');
    expect(config.database?.url).toBe('mysql://app:p%40ss%20word@db:3306/jobs');
  });

  it('accepts the usual boolean words for SAMPLE_JOB, and nothing else', () => {
    for (const word of ['true', 'TRUE', '1', 'yes', 'Yes', 'y', 'on'])
      expect(loadConfig({ SAMPLE_JOB: word }, none).sampleJob, word).toBe(true);
    for (const word of ['false', '0', 'no', 'NO', 'n', 'off'])
      expect(loadConfig({ SAMPLE_JOB: word }, none).sampleJob, word).toBe(false);
    expect(() => loadConfig({ SAMPLE_JOB: 'maybe' }, none)).toThrow(/SAMPLE_JOB: must be true or false/);
  });

  it('reaches the write-back SQL, the validator mode, health URL and streaming; SFTP_REMOTE_DIR defaults to the login folder', () => {
    const config = loadConfig(
      {
        DATABASE_URL: 'mysql://app@db/jobs',
        DB_REPORT_RESULT_SQL: 'UPDATE jobs SET state = :state WHERE job_id = :job_id',
        VALIDATOR_URL: 'https://validator.example.com/check',
        VALIDATOR_MODE: 'raw',
        VALIDATOR_HEALTH_URL: 'https://validator.example.com/health',
        VALIDATOR_STREAM: 'false',
        SFTP_HOST: 'sftp.example.com',
        SFTP_USERNAME: 'u',
        SFTP_PASSWORD: 'p',
        SFTP_HOST_FINGERPRINT: `SHA256:${'A'.repeat(43)}`,
      },
      none,
    );
    expect(config.database?.reportResultSql).toBe('UPDATE jobs SET state = :state WHERE job_id = :job_id');
    expect(config.validator).toEqual({
      url: 'https://validator.example.com/check',
      mode: 'raw',
      healthUrl: 'https://validator.example.com/health',
      stream: false,
    });
    expect(config.sftp?.remoteDir).toBe('.');
    expect(loadConfig({ VALIDATOR_URL: 'http://v/check' }, none).validator).toMatchObject({
      mode: 'multipart',
      stream: true,
    });
    expect(() => loadConfig({ VALIDATOR_MODE: 'form' }, none)).toThrow(
      /VALIDATOR_MODE: must be multipart or raw/,
    );
  });

  it('masks secrets for printing', () => {
    const config = loadConfig(
      {
        API_KEY: 'a-long-api-key',
        S3_BUCKET: 'media',
        S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        S3_SECRET_ACCESS_KEY: 'very-secret',
        DATABASE_URL: 'mysql://app:hunter2@db:3306/jobs',
        REDIS_URL: 'redis://:redispass@cache:6379/2',
        VALIDATOR_URL: 'https://val:valpass@validator.example.com/check?token=tok3n',
        VALIDATOR_HEALTH_URL: 'https://validator.example.com/health?token=h3alth',
      },
      none,
    );
    const masked = maskConfig(config);
    const text = JSON.stringify(masked);
    expect(masked.VALIDATOR_URL).toBe('https://***@validator.example.com/check?***');
    expect(masked.VALIDATOR_HEALTH_URL).toBe('https://validator.example.com/health?***');
    for (const secret of [
      'a-long-api-key',
      'AKIAEXAMPLE',
      'very-secret',
      'hunter2',
      'redispass',
      'valpass',
      'tok3n',
      'h3alth',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(masked.API_KEY).toBe('***');
    expect(masked.DATABASE_URL).toBe('mysql://***@db:3306/jobs');
    expect(masked.S3_BUCKET).toBe('media');
  });
});
