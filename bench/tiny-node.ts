/**
 * One process of the tiny-jobs benchmark (bench/tiny.ts), configured by the
 * same environment variables as the CLI:
 *
 *   tiny-node.ts inprocess   embedded defaults: in-memory store and queue, runner in this process;
 *                            on `GO` submits BENCH_JOBS jobs and waits until all ended
 *   tiny-node.ts submit      the API side on Redis (no workers): on `GO` submits and waits
 *   tiny-node.ts worker      the `ncr-upload worker` command (Redis + BullMQ)
 *
 * Prints `READY` when started, then `RESULT {json}` after a run.
 */
import { createInterface } from 'node:readline';
import { isTerminal, type TaskState, type UploadPipeline } from '@ncr-upload/core';
import { buildPipelineFromConfig, createRunner, loadConfig } from '@ncr-upload/worker-runner';
import { pino } from 'pino';
import { startWorker } from '../packages/worker-runner/src/service.js';
import { tinyJob } from './support.js';

const mode = process.argv[2];
const jobCount = Number(process.env.BENCH_JOBS ?? 2000);
const inFlight = Number(process.env.BENCH_SUBMIT_CONCURRENCY ?? 32);
const config = loadConfig(process.env, { envFile: false });

/** Submit every job (at most `inFlight` requests at once), then wait until each task ended. */
async function submitAndWait(pipeline: UploadPipeline) {
  const ended = new Map<string, TaskState>();
  const ids = new Set<string>();
  const unsubscribe = pipeline.subscribe((event) => {
    if (isTerminal(event.state)) ended.set(event.task_id, event.state);
  });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let next = 0;
  const submitLatencies: number[] = [];
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < jobCount) {
        const index = next;
        next += 1;
        const at = performance.now();
        const result = await pipeline.submit(tinyJob(index));
        submitLatencies.push(performance.now() - at);
        ids.add(result.task_id);
      }
    }),
  );
  const submitted = performance.now();
  const submitCpu = process.cpuUsage(cpuStart);
  for (;;) {
    const missing = [...ids].filter((id) => !ended.has(id));
    if (missing.length === 0) break;
    const before = ended.size;
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Events are the fast path; a quiet second reads the rest directly (an event may have been missed).
    if (ended.size === before) {
      for (const id of missing.slice(0, 50)) {
        const record = await pipeline.getTask(id);
        if (record && isTerminal(record.state)) ended.set(id, record.state);
      }
    }
  }
  const finished = performance.now();
  const cpu = process.cpuUsage(cpuStart);
  unsubscribe();
  const states: Record<string, number> = {};
  for (const id of ids) {
    const state = ended.get(id) as string;
    states[state] = (states[state] ?? 0) + 1;
  }
  return {
    jobs: ids.size,
    seconds: (finished - started) / 1000,
    submit_seconds: (submitted - started) / 1000,
    cpu_ms: (cpu.user + cpu.system) / 1000,
    submit_cpu_ms: (submitCpu.user + submitCpu.system) / 1000,
    states,
  };
}

const logger = pino({ level: config.logLevel, name: 'ncr-upload' });

if (mode === 'worker') {
  const worker = await startWorker(config);
  process.stdout.write('READY\n');
  process.on('SIGTERM', () => {
    void worker.stop().finally(() => process.exit(0));
  });
} else if (mode === 'inprocess' || mode === 'submit') {
  const built = await buildPipelineFromConfig(config, { logger, seedSample: false });
  const runner =
    mode === 'inprocess'
      ? createRunner({
          pipeline: built.pipeline,
          concurrency: config.worker.concurrency,
          maxMemoryPercent: config.memory.maxPercent,
          logger,
        })
      : null;
  await runner?.start();
  process.stdout.write('READY\n');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === 'GO') {
      const result = await submitAndWait(built.pipeline);
      process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    } else if (line.trim() === 'STOP') break;
  }
  await runner?.stop();
  await built.close({ timeoutMs: 1000 });
  process.exit(0);
} else {
  process.stderr.write('usage: tiny-node.ts inprocess|submit|worker\n');
  process.exit(2);
}
