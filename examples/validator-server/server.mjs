#!/usr/bin/env node
// The reference validator as a process: `node examples/validator-server/server.mjs`.
// Environment: PORT (default 8002), HOST (default 127.0.0.1),
// VALIDATOR_ALLOWED_EXTENSIONS (e.g. ".jpg,.png,.pdf"; default any).
import { startValidatorServer } from './validator-server.mjs';

const port = Number(process.env.PORT ?? 8002);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(1);
}
const allowedExtensions = (process.env.VALIDATOR_ALLOWED_EXTENSIONS ?? '')
  .split(',')
  .map((extension) => extension.trim())
  .filter(Boolean);

const running = await startValidatorServer({
  port,
  host: process.env.HOST ?? '127.0.0.1',
  allowedExtensions,
  onResult: (result) =>
    console.log(
      JSON.stringify({
        job_id: result.job.job_id,
        mode: result.mode,
        size: result.size,
        files: result.files,
        valid: result.errors.length === 0,
      }),
    ),
  onError: (error) => console.error(error),
});
console.log(`validator listening on ${running.url} (health: ${running.healthUrl})`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    running.close().then(() => process.exit(0));
  });
}
