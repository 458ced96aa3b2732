import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostApp, type HostApp } from '../src/host-app.js';

describe('host app mounting the upload router at /uploads', () => {
  let dataDir: string;
  let hosted: HostApp;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ncr-mount-'));
    const jobDir = join(dataDir, 'storage', 'spring', 'alice', 'job-1');
    await mkdir(jobDir, { recursive: true });
    await writeFile(join(jobDir, 'a.txt'), 'hello');
    hosted = await createHostApp({ dataDir, logger: pino({ level: 'silent' }) });
    server = await new Promise((resolve) => {
      const started = hosted.app.listen(0, '127.0.0.1', () => resolve(started));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await hosted.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the host routes and serves the API under the prefix', async () => {
    expect(await (await fetch(`${base}/`)).json()).toEqual({ app: 'host', uploads: '/uploads/' });
    const root = (await (await fetch(`${base}/uploads/`)).json()) as { links: { docs: string } };
    expect(root.links.docs).toBe('/uploads/docs');
    expect((await fetch(`${base}/process-job`, { method: 'POST' })).status).toBe(404);
  });

  it('runs a job submitted under the prefix to a delivered zip', async () => {
    const submitted = await fetch(`${base}/uploads/process-job`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: 'job-1', username: 'alice', campaign: 'spring' }),
    });
    expect(submitted.status).toBe(200);
    const { task_id } = (await submitted.json()) as { task_id: string };
    const record = await hosted.pipeline.waitFor(task_id, { timeoutMs: 30_000 });
    expect(record.state).toBe('succeeded');
    const status = (await (await fetch(`${base}/uploads/job-status/${task_id}`)).json()) as {
      status: string;
      result: { remote_path: string };
    };
    expect(status.status).toBe('succeeded');
    expect(status.result.remote_path).toBe('spring/alice/job-1.zip');
  });

  it('serves docs with links relative to the mount point', async () => {
    const openapi = (await (await fetch(`${base}/uploads/openapi.json`)).json()) as { servers: unknown };
    expect(openapi.servers).toEqual([{ url: '/uploads' }]);
    for (const page of ['docs', 'docs/', 'redoc', 'redoc/']) {
      const url = new URL(page, `${base}/uploads/`);
      const html = await (await fetch(url)).text();
      const links = [...html.matchAll(/(?:src|href|url|spec-url)[=:] ?["']([^"']+)["']/g)].map((m) => m[1]!);
      const local = links.filter((link) => !link.startsWith('#'));
      expect(local.length).toBeGreaterThan(0);
      for (const link of local) {
        expect(link.startsWith('http')).toBe(false);
        const asset = await fetch(new URL(link, url));
        expect(asset.status, `${page} → ${link}`).toBe(200);
      }
    }
    // The console's page and views lead back to the mount point, and its assets load from there.
    for (const [page, relative] of [
      ['dashboard', ''],
      ['dashboard/', '../'],
      ['dashboard/tasks/some-task', '../../'],
    ] as const) {
      const url = new URL(page, `${base}/uploads/`);
      const html = await (await fetch(url)).text();
      expect(html).toContain(`data-base="${relative}"`);
      expect(html).not.toMatch(/https?:\/\//);
      const assets = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1]!);
      expect(assets.length).toBeGreaterThan(5);
      for (const asset of assets) expect((await fetch(new URL(asset, url))).status, asset).toBe(200);
    }
  });
});
