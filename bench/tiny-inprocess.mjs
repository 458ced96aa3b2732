// The in-process case of the tiny-jobs benchmark (bench/tiny.ts): the BUILT
// packages (run `npm run build` first) through plain node, as users run them.
// Embedded defaults from the same environment variables as the CLI: in-memory
// store and queue, folder storage and outbox, built-in validator, the runner
// in this process. Prints `READY`; on `GO` submits BENCH_JOBS jobs, waits
// until each ended and prints `RESULT {json}`; `STOP` ends it.
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { buildPipelineFromConfig, createRunner, loadConfig } from '@ncr-upload/worker-runner';
import { pino } from 'pino';
import { submitAndWait } from './tiny-submit.mjs';

const jobCount = Number(process.env.BENCH_JOBS ?? 2000);

/**
 * CPU ms of this process's threads on Linux: the event loop (the main thread)
 * and the rest (libuv's pool, V8's helpers). The event loop is what limits
 * the rate of small jobs; null elsewhere.
 */
function threadCpuMs() {
  try {
    const split = { event_loop: 0, other_threads: 0 };
    const tick = 10; // ms per clock tick (USER_HZ 100)
    for (const thread of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${thread}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * tick;
      split[thread === String(process.pid) ? 'event_loop' : 'other_threads'] += ms;
    }
    return split;
  } catch {
    return null;
  }
}
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
    const before = threadCpuMs();
    const result = await submitAndWait(built.pipeline, jobCount, inFlight);
    const after = threadCpuMs();
    if (before && after) {
      result.thread_cpu_ms = {
        event_loop: after.event_loop - before.event_loop,
        other_threads: after.other_threads - before.other_threads,
      };
    }
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } else if (line.trim() === 'STOP') break;
}
await runner.stop();
await built.close({ timeoutMs: 1000 });
process.exit(0);
