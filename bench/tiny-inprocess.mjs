// The in-process case of the tiny-jobs benchmark (bench/tiny.ts): the BUILT
// packages (run `npm run build` first) through plain node, as users run them.
// Embedded defaults from the same environment variables as the CLI: in-memory
// store and queue, folder storage and outbox, built-in validator, the runner
// in this process. Prints `READY`; on `GO` submits BENCH_JOBS jobs, waits
// until each ended and prints `RESULT {json}`; `STOP` ends it.
import { createInterface } from 'node:readline';
import { buildPipelineFromConfig, createRunner, loadConfig } from '@ncr-upload/worker-runner';
import { pino } from 'pino';
import { submitAndWait } from './tiny-submit.mjs';

const jobCount = Number(process.env.BENCH_JOBS ?? 2000);
const inFlight = Number(process.env.BENCH_SUBMIT_CONCURRENCY ?? 32);
const config = loadConfig(process.env, { envFile: false });
const logger = pino({ level: config.logLevel, name: 'ncr-upload' });
const built = await buildPipelineFromConfig(config, { logger, seedSample: false });
const runner = createRunner({
  pipeline: built.pipeline,
  concurrency: config.worker.concurrency,
  maxMemoryPercent: config.memory.maxPercent,
  logger,
});
await runner.start();
process.stdout.write('READY\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'GO') {
    const result = await submitAndWait(built.pipeline, jobCount, inFlight);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } else if (line.trim() === 'STOP') break;
}
await runner.stop();
await built.close({ timeoutMs: 1000 });
process.exit(0);
