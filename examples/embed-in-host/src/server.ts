/**
 * A host application that already has an Express server: mount the upload API
 * under /uploads, run the memory-aware runner inline, and drain on SIGTERM.
 * Configuration comes from the environment like the CLI's (docs/configuration.md).
 */
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploadRouter } from '@ncr-upload/express-adapter';
import { buildPipelineFromConfig, createRunner, loadConfig, localUrl } from '@ncr-upload/worker-runner';
import express from 'express';

// Embedded defaults live in a temp folder unless DATA_DIR says otherwise: nothing is left in the checkout.
const config = loadConfig({
  ...process.env,
  DATA_DIR: process.env.DATA_DIR || join(tmpdir(), 'ncr-upload-embed-example'),
});
const { pipeline, close, parts } = await buildPipelineFromConfig(config);
const runner = createRunner({
  pipeline,
  concurrency: config.worker.concurrency,
  maxMemoryPercent: config.memory.maxPercent,
  shutdownTimeoutMs: config.worker.shutdownTimeoutMs,
});

const app = express();
app.get('/', (_request, response) => {
  response.json({ app: 'host', uploads: '/uploads', parts });
});
app.use(
  '/uploads',
  createUploadRouter(pipeline, {
    readiness: () => runner.ready,
    ...(config.api.key ? { apiKey: config.api.key } : {}),
  }),
);

await runner.start();
// The host's own port (PORT, default 3000) on API_HOST (default 0.0.0.0), like the CLI.
const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, config.api.host, () => {
  const url = localUrl(server.address() as AddressInfo);
  console.log(`host app on ${url} (API under /uploads, docs at /uploads/docs); data in ${config.dataDir}`);
});

process.once('SIGTERM', async () => {
  const summary = await runner.stop();
  server.close();
  await close();
  console.log('stopped', summary);
});
