import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createUploadApp, type UploadApp } from '@ncr-upload/express-adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPipeline, type Listening, listen, silentLogger, type TestPipeline } from './helpers.js';

const run = promisify(execFile);

/** Every curl command of the original README, in order (continuation lines and multi-line bodies kept). */
async function readmeCommands(): Promise<string[]> {
  const text = await readFile(new URL('./fixtures/original-readme-curl.md', import.meta.url), 'utf8');
  const commands: string[] = [];
  for (const [, block] of text.matchAll(/```bash\n([\s\S]*?)```/g)) {
    let current: string[] | null = null;
    for (const line of block!.split('\n')) {
      if (line.startsWith('curl ')) {
        if (current) commands.push(current.join('\n'));
        current = [line];
      } else if (current && line.startsWith(' ')) {
        current.push(line);
      } else if (current) {
        commands.push(current.join('\n'));
        current = null;
      }
    }
    if (current) commands.push(current.join('\n'));
  }
  return commands;
}

describe("the original README's curl examples, verbatim", () => {
  let test: TestPipeline;
  let app: UploadApp;
  let server: Listening;

  beforeAll(async () => {
    test = await createTestPipeline();
    app = createUploadApp(test.pipeline, { logger: silentLogger });
    server = await listen(app);
  });
  afterAll(async () => {
    app.close();
    await server.close();
    await test.close();
  });

  it('every command gets the answer the original documented', async () => {
    const commands = await readmeCommands();
    expect(commands.length).toBe(8);
    let taskId: string | null = null;
    const seen = new Set<string>();
    for (const command of commands) {
      expect(command).toContain('localhost:8001');
      let script = command.replaceAll('localhost:8001', `127.0.0.1:${server.port}`);
      if (script.includes('{task_id}')) {
        expect(taskId).not.toBeNull();
        script = script.replace('{task_id}', taskId!);
      }
      const { stdout } = await run('/bin/sh', ['-c', script]);
      const body = JSON.parse(stdout);
      const path = /8001\/([a-z-]+)/.exec(command)![1]!;
      seen.add(path);
      switch (path) {
        case 'process-job':
          expect(body).toMatchObject({ job_id: 'your-job-id', status: 'queued', created: true });
          taskId = body.task_id;
          break;
        case 'process-batch':
          expect(body.task_ids).toHaveLength(2);
          expect(body.items.map((item: { job_id: string }) => item.job_id)).toEqual(['job-1', 'job-2']);
          break;
        case 'job-status':
          expect(body).toMatchObject({ task_id: taskId, job_id: 'your-job-id' });
          expect(body.status).toBe(body.state);
          break;
        case 'memory-stats':
          expect(body).toMatchObject({
            accepting_jobs: expect.any(Boolean),
            recommended_concurrency: expect.any(Number),
          });
          break;
        case 'health':
          expect(body).toMatchObject({
            status: 'healthy',
            redis: expect.any(String),
            database: expect.any(String),
          });
          break;
        case 'celery-stats':
          // Celery's inspect shapes: lists keyed by worker name.
          expect(Object.values(body.active).every(Array.isArray)).toBe(true);
          expect(Object.values(body.scheduled).every(Array.isArray)).toBe(true);
          expect(Object.keys(body.active).length).toBeGreaterThan(0);
          break;
        default:
          throw new Error(`unexpected path ${path}`);
      }
    }
    expect([...seen].sort()).toEqual(
      ['celery-stats', 'health', 'job-status', 'memory-stats', 'process-batch', 'process-job'].sort(),
    );
  });
});
