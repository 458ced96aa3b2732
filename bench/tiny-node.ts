/**
 * One process of the tiny-jobs benchmark (bench/tiny.ts) on Redis, configured
 * by the same environment variables as the CLI (the in-process case is
 * tiny-inprocess.mjs, on the built packages):
 *
 *   tiny-node.ts submit      the API side on Redis (no workers): on `GO` submits and waits
 *   tiny-node.ts worker      the `ncr-upload worker` command (Redis + BullMQ)
 *
 * Prints `READY` when started, then `RESULT {json}` after a run.
 */
import { createInterface } from 'node:readline';
import { buildPipelineFromConfig, loadConfig } from '@ncr-upload/worker-runner';
import { pino } from 'pino';
import { startWorker } from '../packages/worker-runner/src/service.js';
import { submitAndWait } from './tiny-submit.mjs';

const mode = process.argv[2];
const jobCount = Number(process.env.BENCH_JOBS ?? 2000);
const inFlight = Number(process.env.BENCH_SUBMIT_CONCURRENCY ?? 32);
const config = loadConfig(process.env, { envFile: false });

const logger = pino({ level: config.logLevel, name: 'ncr-upload' });

if (mode === 'worker') {
  const worker = await startWorker(config);
  process.stdout.write('READY\n');
  process.on('SIGTERM', () => {
    void worker.stop().finally(() => process.exit(0));
  });
} else if (mode === 'submit') {
  const built = await buildPipelineFromConfig(config, { logger, seedSample: false });
  // Ready once the store answers (a busy host connects late; submissions fail fast until then).
  for (let tries = 0; tries < 100; tries += 1) {
    try {
      await built.pipeline.statusStore.ping?.();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  process.stdout.write('READY\n');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === 'GO') {
      const result = await submitAndWait(built.pipeline, jobCount, inFlight);
      process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    } else if (line.trim() === 'STOP') break;
  }
  await built.close({ timeoutMs: 1000 });
  process.exit(0);
} else {
  process.stderr.write('usage: tiny-node.ts submit|worker\n');
  process.exit(2);
}
