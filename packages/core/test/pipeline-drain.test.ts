import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Catalog, isUploadError } from '@ncr-upload/core';
import { createFolderStorage, createPrefixCatalog } from '@ncr-upload/core/fs';
import { waitFor } from '@ncr-upload/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, sampleFiles } from './support/fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

describe('draining the worker (pipeline.stop) with the in-process queue', () => {
  it('refuses submissions with NOT_ACCEPTING before creating anything, and the running job still ends', async () => {
    fixture = await createFixture();
    const running = { job_id: 'running-during-drain', username: 'u', campaign: 'c' };
    await fixture.seed(running, sampleFiles());
    // Hold the running job in its first step until the test lets it go.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const prefix = createPrefixCatalog({ storage: createFolderStorage({ root: fixture.storageRoot }) });
    const catalog: Catalog = {
      async listFiles(job, options) {
        if (job.job_id === running.job_id) await gate;
        return prefix.listFiles(job, options);
      },
    };
    const pipeline = fixture.pipeline({ catalog });
    await pipeline.start();
    const { task_id } = await pipeline.submit(running);
    await waitFor(async () => (await pipeline.getTask(task_id))?.state === 'running');

    const stopping = pipeline.stop({ timeoutMs: 30_000 });
    const late = { job_id: 'submitted-during-drain', username: 'u', campaign: 'c' };
    await fixture.seed(late, sampleFiles());
    const refusal = await pipeline.submit(late).catch((error: unknown) => error);
    expect(isUploadError(refusal) && refusal.code).toBe('NOT_ACCEPTING');
    expect(isUploadError(refusal) && refusal.retryable).toBe(true);
    // Nothing was created for it: no task to fail later.
    expect((await pipeline.listTasks()).map((task) => task.job_id)).toEqual([running.job_id]);
    expect((await pipeline.stats()).draining).toBe(true);

    release();
    await stopping;
    expect((await pipeline.getTask(task_id))?.state).toBe('succeeded');
    expect(await readdir(join(fixture.outbox, 'c', 'u'))).toEqual([`${running.job_id}.zip`]);
  });
});
