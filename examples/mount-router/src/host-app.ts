import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploadPipeline, type UploadPipeline } from '@ncr-upload/core';
import {
  createBuiltinValidator,
  createFolderDestination,
  createFolderStorage,
  createPrefixCatalog,
} from '@ncr-upload/core/fs';
import { createUploadRouter, type UploadRouter } from '@ncr-upload/express-adapter';
import express, { type Express } from 'express';
import type { Logger } from 'pino';

export interface HostAppOptions {
  /** Folder holding `storage/` (job files under `{campaign}/{username}/{job_id}/`), `delivered/` and `work/`. */
  dataDir: string;
  /** API key for the upload routes. Default: none (open). */
  apiKey?: string;
  /** Logger for the upload router. Default: the router's own pino logger. */
  logger?: Logger;
}

export interface HostApp {
  app: Express;
  pipeline: UploadPipeline;
  router: UploadRouter;
  close(): Promise<void>;
}

/**
 * The host application: its own routes at `/`, and the upload API mounted at
 * `/uploads`. The pipeline runs on local folders, so nothing else is needed.
 */
export async function createHostApp(options: HostAppOptions): Promise<HostApp> {
  const storageRoot = join(options.dataDir, 'storage');
  await mkdir(storageRoot, { recursive: true });
  const storage = createFolderStorage({ root: storageRoot });
  const pipeline = createUploadPipeline({
    storage,
    catalog: createPrefixCatalog({ storage }),
    validator: createBuiltinValidator({}),
    destination: createFolderDestination({ root: join(options.dataDir, 'delivered') }),
    workDir: join(options.dataDir, 'work'),
  });
  await pipeline.start();

  const router = createUploadRouter(pipeline, {
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    serviceName: 'Host app uploads',
  });

  const app = express();
  app.get('/', (_request, response) => {
    response.json({ app: 'host', uploads: '/uploads/' });
  });
  app.use('/uploads', router);

  return {
    app,
    pipeline,
    router,
    async close() {
      router.close();
      await pipeline.close({ timeoutMs: 10_000 });
    },
  };
}
