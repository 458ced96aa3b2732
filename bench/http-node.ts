/**
 * The server of bench/http.ts: `ncr-upload serve` (API and workers in one
 * process), configured by the CLI's environment variables. Prints `READY` when
 * it listens; on `STOP` (stdin) it stops and prints `STOPPED`.
 */
import { createInterface } from 'node:readline';
import { loadConfig } from '@ncr-upload/worker-runner';
import { startApi } from '../packages/worker-runner/src/service.js';

const config = loadConfig(process.env, { envFile: false });
const services = await startApi(config, { withWorkers: process.env.BENCH_WORKERS !== '0' });
process.stdout.write('READY\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'STOP') break;
}
for (const service of services) await service.stop();
process.stdout.write('STOPPED\n');
process.exit(0);
