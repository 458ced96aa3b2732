import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { QueueItem, StatusStore, TaskRecord } from '@ncr-upload/core';
import { CHILD_ENV, type ChildMessage, isStoreMethod, type ParentMessage } from './ipc.js';

/** How a job ended in a child process. */
export type ChildOutcome =
  | { kind: 'done'; state: TaskRecord['state'] | null; rss: number }
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'start-failed'; message: string };

export interface ChildWorkerOptions {
  /** Module exporting `createPipeline()`; empty: the child builds its pipeline from the environment. */
  pipelineModule: string | undefined;
  /** The parent's status store, served to the child over IPC. */
  statusStore: StatusStore;
  /** Extra environment for the child. */
  env?: Record<string, string>;
}

/** The child program: `child-entry.js` next to this file, or `child-entry.ts` when running from source. */
export function childEntry(): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  const path = fileURLToPath(new URL(fromSource ? './child-entry.ts' : './child-entry.js', here));
  if (!existsSync(path))
    throw new Error(`The worker child program is missing: ${path}. Build the package first.`);
  if (!fromSource) return { path, execArgv: [] };
  // Running from source (tests, development): load the TypeScript loader by absolute path, whatever the cwd.
  const loader = pathToFileURL(createRequire(here).resolve('tsx')).href;
  return { path, execArgv: ['--import', loader] };
}

let sequence = 0;

/** One forked child process that runs one job at a time. */
export class ChildWorker {
  readonly id = ++sequence;
  readonly process: ChildProcess;
  tasksDone = 0;
  rss = 0;
  currentTaskId: string | null = null;
  /** Set when the child should exit after its current job (recycling). */
  retireReason: string | null = null;
  exited = false;
  readonly ready: Promise<{ ok: true } | { ok: false; outcome: ChildOutcome }>;
  /** Resolves when the process exited, with the task it was running then (a crash) or null. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; taskId: string | null }>;
  private settleJob: ((outcome: ChildOutcome) => void) | null = null;

  constructor(options: ChildWorkerOptions) {
    const entry = childEntry();
    this.process = fork(entry.path, [], {
      execArgv: entry.execArgv,
      env: {
        ...process.env,
        ...options.env,
        [CHILD_ENV.child]: '1',
        [CHILD_ENV.pipelineModule]: options.pipelineModule ?? '',
      },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const store = options.statusStore;
    this.exit = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.exited = true;
        const taskId = this.currentTaskId;
        this.settleJob?.({ kind: 'exited', code, signal });
        this.settleJob = null;
        resolve({ code, signal, taskId });
      });
    });
    this.ready = new Promise((resolve) => {
      const onMessage = (message: ChildMessage) => {
        if (typeof message !== 'object' || message === null) return;
        if (message.type === 'ready') resolve({ ok: true });
        if (message.type === 'start-failed')
          resolve({ ok: false, outcome: { kind: 'start-failed', message: message.message } });
      };
      this.process.on('message', onMessage);
      void this.exit.then(({ code, signal }) =>
        resolve({ ok: false, outcome: { kind: 'exited', code, signal } }),
      );
    });
    this.process.on('message', (message: ChildMessage) => {
      if (typeof message !== 'object' || message === null) return;
      if (message.type === 'rss') {
        if (typeof message.rss === 'number') this.rss = message.rss;
      } else if (message.type === 'done') {
        // Only the job this child runs now can end; anything else is stale or forged.
        if (message.task_id !== this.currentTaskId || !this.settleJob) return;
        if (typeof message.rss === 'number') this.rss = message.rss;
        this.settleJob({ kind: 'done', state: message.state, rss: this.rss });
        this.settleJob = null;
      } else if (message.type === 'store') {
        void this.serveStore(store, message);
      }
    });
    // A child that exits early makes `send` fail with EPIPE; the exit handler reports it.
    this.process.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get busy(): boolean {
    return this.currentTaskId !== null;
  }

  /** Run one item; resolves when the child reports it done or exits. */
  run(item: QueueItem): Promise<ChildOutcome> {
    if (this.exited)
      return Promise.resolve({
        kind: 'exited',
        code: this.process.exitCode,
        signal: this.process.signalCode,
      });
    this.currentTaskId = item.task_id;
    const outcome = new Promise<ChildOutcome>((resolve) => {
      this.settleJob = resolve;
    });
    this.send({ type: 'run', item });
    return outcome.then((result) => {
      this.currentTaskId = null;
      if (result.kind === 'done') this.tasksDone += 1;
      return result;
    });
  }

  abort(taskId: string): void {
    this.send({ type: 'abort', task_id: taskId });
  }

  /** Ask the child to exit; kill it when it has not after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    this.send({ type: 'shutdown' });
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.process.kill(signal);
  }

  private send(message: ParentMessage): void {
    if (!this.exited && this.process.connected) this.process.send(message, (error) => error && undefined);
  }

  private async serveStore(
    store: StatusStore,
    message: Extract<ChildMessage, { type: 'store' }>,
  ): Promise<void> {
    try {
      if (!isStoreMethod(message.method))
        throw new Error(`Unknown status store method ${String(message.method)}.`);
      const method = store[message.method] as (...args: unknown[]) => Promise<unknown>;
      const value = await method.apply(store, message.args);
      this.send({ type: 'store-reply', id: message.id, ok: true, value });
    } catch (error) {
      const failure = error as { name?: string; message?: string; code?: unknown };
      this.send({
        type: 'store-reply',
        id: message.id,
        ok: false,
        error: {
          name: failure?.name ?? 'Error',
          message: failure?.message ?? String(error),
          ...(typeof failure?.code === 'string' ? { code: failure.code } : {}),
        },
      });
    }
  }
}
