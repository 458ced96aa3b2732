import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRequest } from '../src/job.js';
import type { ArchiveInfo } from '../src/ports/validator.js';

const job: JobRequest = { job_id: 'job-9', username: 'al', campaign: 'spring' };
let dir: string;
let archive: ArchiveInfo;
let server: ChildProcess;
let port: number;

const HOSTILE_SERVER = `
const net = require('node:net');
const server = net.createServer((socket) => {
  socket.on('error', () => undefined);
  let head = '';
  const onData = (chunk) => {
    head += chunk.toString('latin1');
    if (!head.includes('\\r\\n\\r\\n')) return;
    socket.off('data', onData);
    socket.pause();
    const body = JSON.stringify({ valid: false, errors: [{ message: 'too big', code: 'TOO_BIG' }] });
    socket.write('HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: ' + body.length + '\\r\\n\\r\\n' + body);
  };
  socket.on('data', onData);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** Descriptors of this process whose target passes `test`. */
function fds(test: (target: string) => boolean): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (test(readlinkSync(`/proc/self/fd/${fd}`))) count += 1;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}
const sockets = () => fds((target) => target.startsWith('socket:'));
const onArchive = () => fds((target) => target === archive.path);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'http-validator-leaks-'));
  const path = join(dir, 'big.zip');
  // Larger than the socket buffers, so the upload cannot finish unless the server reads it.
  await writeFile(path, randomBytes(16 * 1024 * 1024));
  archive = { path, size: 16 * 1024 * 1024, sha256: '0'.repeat(64), entries: [] };
  // A validator (or a proxy in front of one) that answers as soon as it saw the request
  // headers, then neither reads the rest of the body nor closes the connection. It runs in
  // a child process so that this process's descriptors are the client's alone.
  server = spawn(process.execPath, ['-e', HOSTILE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(server.stdout!, 'data')) as [Buffer];
  port = Number(line.toString().trim());
});

afterAll(async () => {
  server?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('createHttpValidator: resources', () => {
  for (const mode of ['multipart', 'raw'] as const) {
    it(`${mode}: an answer before the whole body was sent leaves no socket nor file open`, async () => {
      const validator = createHttpValidator({ url: `http://127.0.0.1:${port}/validate`, mode });
      const before = sockets();
      for (let round = 0; round < 5; round += 1) {
        const verdict = await validator.validate(archive, job);
        expect(verdict).toMatchObject({ valid: false, errors: [{ code: 'TOO_BIG' }] });
      }
      // Descriptors close asynchronously after destroy(): give them a moment.
      for (let tries = 0; tries < 100 && (sockets() > before || onArchive() > 0); tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(onArchive()).toBe(0);
      expect(sockets()).toBeLessThanOrEqual(before);
    });
  }
});
