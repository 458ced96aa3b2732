import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createUploadPipeline, type UploadPipeline, type UploadPipelineOptions } from '@ncr-upload/core';
import {
  createBuiltinValidator,
  createFolderDestination,
  createFolderStorage,
  createPrefixCatalog,
} from '@ncr-upload/core/fs';
import { randomBytesOf } from '@ncr-upload/core/testing';

export interface Fixture {
  root: string;
  storageRoot: string;
  outbox: string;
  workDir: string;
  /** Write files for a job under `{campaign}/{username}/{job_id}/`. */
  seed(
    job: { job_id: string; username: string; campaign: string },
    files: Record<string, Buffer>,
  ): Promise<void>;
  pipeline(overrides?: Partial<UploadPipelineOptions>): UploadPipeline;
  tempEntries(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** Temp folders plus a pipeline on the embedded adapters. */
export async function createFixture(): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'ncr-pipeline-'));
  const storageRoot = join(root, 'storage');
  const outbox = join(root, 'outbox');
  const workDir = join(root, 'work');
  await Promise.all([storageRoot, outbox, workDir].map((dir) => mkdir(dir, { recursive: true })));
  const pipelines: UploadPipeline[] = [];
  return {
    root,
    storageRoot,
    outbox,
    workDir,
    async seed(job, files) {
      for (const [name, bytes] of Object.entries(files)) {
        const path = join(storageRoot, job.campaign, job.username, job.job_id, name);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, bytes);
      }
    },
    pipeline(overrides = {}) {
      const storage = createFolderStorage({ root: storageRoot });
      const pipeline = createUploadPipeline({
        storage,
        catalog: createPrefixCatalog({ storage }),
        validator: createBuiltinValidator({}),
        destination: createFolderDestination({ root: outbox }),
        workDir,
        retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
        progressIntervalMs: 10,
        ...overrides,
      });
      pipelines.push(pipeline);
      return pipeline;
    },
    tempEntries: () => readdir(workDir),
    async cleanup() {
      await Promise.all(pipelines.map((pipeline) => pipeline.close({ timeoutMs: 1000 })));
      await rm(root, { recursive: true, force: true });
    },
  };
}

export const sampleFiles = () => ({
  'front.jpg': randomBytesOf(256 * 1024),
  'back.jpg': randomBytesOf(100 * 1024),
  'docs/manifest.txt': Buffer.from('hello manifest\n'),
  'empty.txt': Buffer.alloc(0),
});
