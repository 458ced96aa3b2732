import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '@ncr-upload/test-kit/redis-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createSharedPipeline, seedJobs } from './fixtures/pipeline-setup.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('draining a worker on BullMQ', () => {
  it('keeps accepting submissions while its worker stops; they stay queued for the next worker', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.dispose());
    const root = await mkdtemp(join(tmpdir(), 'ncr-drain-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const setup = (workerId: string) => ({
      redisPort: server.port,
      prefix: `d${randomUUID().slice(0, 8)}`,
      queueName: `q${randomUUID().slice(0, 8)}`,
      storageRoot: join(root, 'storage'),
      destinationRoot: join(root, 'outbox'),
      workDir: join(root, 'work'),
      workerId,
    });
    const shared = setup('draining');
    const [before, during] = await seedJobs(shared.storageRoot, ['before-drain', 'during-drain']);
    const draining = createSharedPipeline(shared);
    cleanups.push(() => draining.close({ timeoutMs: 1000 }));
    await draining.start();
    const first = await draining.submit(before);
    expect((await draining.waitFor(first.task_id, { timeoutMs: 20_000 })).state).toBe('succeeded');

    await draining.stop({ timeoutMs: 5000 });
    expect((await draining.stats()).consuming).toBe(false);
    // The API side of the same process still takes jobs: BullMQ keeps them for other workers.
    const second = await draining.submit(during);
    expect(second.created).toBe(true);
    expect((await draining.getTask(second.task_id))?.state).toBe('queued');

    const next = createSharedPipeline({ ...shared, workerId: 'next' });
    cleanups.push(() => next.close({ timeoutMs: 1000 }));
    await next.start();
    const record = await next.waitFor(second.task_id, { timeoutMs: 20_000 });
    expect(record.state).toBe('succeeded');
    expect(record.worker).toBe('next');
    expect((await readdir(join(shared.destinationRoot, 'c', 'u'))).sort()).toEqual([
      'before-drain.zip',
      'during-drain.zip',
    ]);
  });
});
