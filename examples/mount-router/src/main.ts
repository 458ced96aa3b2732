import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApp } from './host-app.js';

const port = Number(process.env.PORT ?? 8001);
const host = process.env.HOST ?? '127.0.0.1';
const dataDir = process.env.DATA_DIR ?? join(tmpdir(), 'ncr-upload-mount-example');

const hosted = await createHostApp({
  dataDir,
  ...(process.env.API_KEY ? { apiKey: process.env.API_KEY } : {}),
});
const server = hosted.app.listen(port, host, () => {
  console.log(`host app on http://${host}:${port}/ — uploads API at /uploads/, docs at /uploads/docs`);
});

const stop = () => {
  server.close();
  void hosted.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
