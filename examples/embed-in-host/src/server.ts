/**
 * A host application that already has an Express server: mount the upload API
 * under /uploads, run the memory-aware runner inline, and drain on SIGTERM.
 * Configuration comes from the environment like the CLI's (docs/configuration.md).
 */
import { createUploadRouter } from '@ncr-upload/express-adapter';
import { buildPipelineFromConfig, createRunner, loadConfig } from '@ncr-upload/worker-runner';
import express from 'express';

const config = loadConfig();
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
const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, () =>
  console.log(`host app on http://127.0.0.1:${port} (API under /uploads, docs at /uploads/docs)`),
);

process.once('SIGTERM', async () => {
  const summary = await runner.stop();
  server.close();
  await close();
  console.log('stopped', summary);
});
