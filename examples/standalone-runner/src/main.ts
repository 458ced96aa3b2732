/**
 * The runner without the CLI: jobs run in child processes that load
 * ./pipeline.ts, are recycled after 100 jobs or 300 MB, and drain on SIGTERM.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunner, SAMPLE_JOB, seedSampleJob } from '@ncr-upload/worker-runner';
import { createPipeline } from './pipeline.js';

// A temp folder unless EXAMPLE_DATA_DIR says otherwise: nothing is left in the checkout.
const root = process.env.EXAMPLE_DATA_DIR ?? join(tmpdir(), 'ncr-upload-standalone-example');
await seedSampleJob(`${root}/storage`);

const pipeline = createPipeline();
const runner = createRunner({
  pipeline,
  pipelineModule: fileURLToPath(new URL('./pipeline.ts', import.meta.url)),
  isolation: 'process',
  concurrency: 2,
  maxTasksPerChild: 100,
  maxMemoryPerChildKb: 300_000,
  shutdownTimeoutMs: 20_000,
});
runner.on('throttle', (state) => console.log('throttled:', state.reason));
runner.on('recycle', (event) => console.log(`recycled child ${event.pid}: ${event.reason}`));
await runner.start();

const { task_id } = await pipeline.submit(SAMPLE_JOB);
const record = await pipeline.waitFor(task_id, { timeoutMs: 60_000 });
console.log(`${record.job_id}: ${record.state}`, record.result ?? record.error);

process.once('SIGTERM', async () => {
  console.log(await runner.stop());
  await pipeline.close();
});
if (!process.env.KEEP_RUNNING) process.kill(process.pid, 'SIGTERM');
