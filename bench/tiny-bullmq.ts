/**
 * Raw BullMQ on the same Redis, for scale: BENCH_JOBS no-op jobs added one by
 * one (32 adds in flight), one worker with concurrency 4. Prints `RESULT {json}`.
 */
import { Queue, Worker } from 'bullmq';

const jobCount = Number(process.env.BENCH_JOBS ?? 2000);
const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const name = `raw-${process.pid}`;
const queue = new Queue(name, { connection });
let done = 0;
let allDone: () => void = () => undefined;
const finished = new Promise<void>((resolve) => {
  allDone = resolve;
});
const worker = new Worker(name, async () => undefined, { connection, concurrency: 4 });
worker.on('completed', () => {
  done += 1;
  if (done === jobCount) allDone();
});
await worker.waitUntilReady();
const started = performance.now();
const cpuStart = process.cpuUsage();
let next = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < jobCount) {
      next += 1;
      await queue.add('noop', { index: next }, { removeOnComplete: true });
    }
  }),
);
await finished;
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
await worker.close();
await queue.obliterate({ force: true }).catch(() => undefined);
await queue.close();
process.stdout.write(
  `RESULT ${JSON.stringify({ jobs: jobCount, seconds, cpu_ms: (cpu.user + cpu.system) / 1000 })}\n`,
);
process.exit(0);
