import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createUploadPipeline, type UploadPipeline, type UploadPipelineOptions } from '@ncr-upload/core';
import {
  createBuiltinValidator,
  createFolderDestination,
  createFolderStorage,
  createPrefixCatalog,
} from '@ncr-upload/core/fs';
import type { Express } from 'express';
import { pino } from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';

export const silentLogger = pino({ level: 'silent' });

export interface TestPipeline {
  pipeline: UploadPipeline;
  root: string;
  storageRoot: string;
  destinationRoot: string;
  /** Put a file into storage under the default job prefix `{campaign}/{username}/{job_id}/`. */
  addFile(
    job: { job_id: string; username: string; campaign: string },
    name: string,
    content: string,
  ): Promise<void>;
  close(): Promise<void>;
}

/** A real pipeline on the embedded adapters, in a temp folder of its own. */
export async function createTestPipeline(
  overrides: Partial<UploadPipelineOptions> = {},
  options: { start?: boolean } = {},
): Promise<TestPipeline> {
  const root = await mkdtemp(join(tmpdir(), 'ncr-express-'));
  const storageRoot = join(root, 'storage');
  const destinationRoot = join(root, 'delivered');
  await mkdir(storageRoot, { recursive: true });
  const storage = createFolderStorage({ root: storageRoot });
  const pipeline = createUploadPipeline({
    storage,
    catalog: createPrefixCatalog({ storage }),
    destination: createFolderDestination({ root: destinationRoot }),
    validator: createBuiltinValidator({}),
    workDir: join(root, 'work'),
    retry: { attempts: 1 },
    ...overrides,
  });
  if (options.start !== false) await pipeline.start();
  return {
    pipeline,
    root,
    storageRoot,
    destinationRoot,
    async addFile(job, name, content) {
      const path = join(storageRoot, job.campaign, job.username, job.job_id, name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    },
    async close() {
      await pipeline.close({ timeoutMs: 5000 });
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listen on an ephemeral port of 127.0.0.1. */
export async function listen(app: Express): Promise<Listening> {
  const server: Server = await new Promise((resolve) => {
    const started = app.listen(0, '127.0.0.1', () => resolve(started));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: test bodies are checked field by field
type Json = any;

export async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: Json }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Poll a task through the API until it is terminal. */
export async function waitForTerminal(url: string, taskId: string, headers: Record<string, string> = {}) {
  for (let i = 0; i < 600; i += 1) {
    const { body } = await getJson(`${url}/job-status/${taskId}`, { headers });
    if (['succeeded', 'failed', 'rejected', 'cancelled'].includes(body.state)) return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${taskId} did not finish`);
}

export { writeFile };

/** Debian's Chromium, headless, with the flags that keep it off the network (its own downloads fail here). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Abort every request a page makes beyond 127.0.0.1 and record it in `outside`: the pages must work offline. */
export async function keepOffline(page: Page, outside: string[]): Promise<void> {
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:' || url.protocol === 'blob:')
      return route.continue();
    outside.push(url.href);
    return route.abort();
  });
}
