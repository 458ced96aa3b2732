import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localUrl } from '@ncr-upload/worker-runner';
import { createHostApp } from './host-app.js';

// Not 8001: that is the service's own port, and both may run at once.
const port = Number(process.env.PORT ?? 3001);
const host = process.env.API_HOST ?? '127.0.0.1';
const dataDir = process.env.DATA_DIR ?? join(tmpdir(), 'ncr-upload-mount-example');

const hosted = await createHostApp({
  dataDir,
  ...(process.env.API_KEY ? { apiKey: process.env.API_KEY } : {}),
});
const server = hosted.app.listen(port, host, () => {
  const url = localUrl(server.address() as AddressInfo);
  console.log(`host app on ${url}/ — uploads API at /uploads/, docs at /uploads/docs; data in ${dataDir}`);
});

const stop = () => {
  server.close();
  void hosted.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
