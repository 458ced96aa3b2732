/**
 * The program a runner child process runs (`child_process.fork`). It builds a
 * task worker: from the environment configuration (the adapters only, with the
 * env file the parent read), or the worker of the pipeline that
 * NCR_UPLOAD_PIPELINE_MODULE creates. Then it runs one queued item at a time
 * with `worker.run(taskId, { signal })` as the parent asks.
 */
import { createTaskWorker, type StatusStore, type TaskWorker } from '@ncr-upload/core';
import { buildPartsFromConfig, closeParts, taskOptionsFromConfig } from './build-pipeline.js';
import { loadConfig } from './config.js';
import { CHILD_ENV, type ChildMessage, type ParentMessage, STORE_METHODS } from './ipc.js';
import { loadPipelineModule } from './pipeline-module.js';

const RSS_REPORT_MS = 1000;

function send(message: ChildMessage): void {
  if (process.connected) process.send?.(message);
}

const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let nextRequestId = 1;

function callParent(method: (typeof STORE_METHODS)[number], args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (!process.connected) {
      reject(new Error('The runner process is gone.'));
      return;
    }
    const id = nextRequestId++;
    pending.set(id, { resolve, reject });
    send({ type: 'store', id, method, args });
  });
}

/** The parent's status store, over IPC. */
const parentStore = Object.fromEntries(
  STORE_METHODS.map((method) => [method, (...args: unknown[]) => callParent(method, args)]),
) as unknown as StatusStore;

let worker: TaskWorker | undefined;
let closeWorker: (options?: { timeoutMs?: number }) => Promise<void> = async () => undefined;
let current: { taskId: string; controller: AbortController; done: Promise<void> } | undefined;

async function load(): Promise<void> {
  const modulePath = process.env[CHILD_ENV.pipelineModule];
  if (modulePath) {
    const loaded = await loadPipelineModule(modulePath, { role: 'child', statusStore: parentStore });
    worker = loaded.pipeline.worker;
    closeWorker = loaded.close;
    return;
  }
  // The same configuration as the parent: its environment (inherited) and the env file it read.
  const envFile = process.env[CHILD_ENV.envFile];
  const config = loadConfig(process.env, envFile ? { envFile } : {});
  const parts = await buildPartsFromConfig(config, { statusStore: parentStore, seedSample: false });
  worker = createTaskWorker({
    catalog: parts.catalog,
    storage: parts.storage,
    validator: parts.validator,
    destination: parts.destination,
    statusStore: parts.statusStore ?? parentStore,
    ...taskOptionsFromConfig(config),
    // Recorded on the tasks it runs: the parent's id, the worker the console lists.
    ...(process.env[CHILD_ENV.workerId] ? { workerId: process.env[CHILD_ENV.workerId] } : {}),
  });
  closeWorker = () => closeParts(parts.owned);
}

async function run(item: Extract<ParentMessage, { type: 'run' }>['item']): Promise<void> {
  const active = worker;
  if (!active) return;
  const controller = new AbortController();
  const timer = setInterval(() => send({ type: 'rss', rss: process.memoryUsage().rss }), RSS_REPORT_MS);
  timer.unref();
  const done = (async () => {
    let state: Extract<ChildMessage, { type: 'done' }>['state'] = null;
    try {
      const record = await active.run(item.task_id, { signal: controller.signal });
      state = record?.state ?? null;
    } finally {
      clearInterval(timer);
      current = undefined;
      send({ type: 'done', task_id: item.task_id, state, rss: process.memoryUsage().rss });
    }
  })();
  current = { taskId: item.task_id, controller, done };
  await done;
}

async function shutdown(): Promise<void> {
  current?.controller.abort();
  await current?.done.catch(() => undefined);
  await closeWorker({ timeoutMs: 1000 }).catch(() => undefined);
  process.exit(0);
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'run':
      void run(message.item).catch((error: unknown) => {
        process.stderr.write(`ncr-upload worker: ${(error as Error)?.stack ?? String(error)}\n`);
        process.exit(1);
      });
      break;
    case 'abort':
      if (current?.taskId === message.task_id) current.controller.abort();
      break;
    case 'shutdown':
      void shutdown();
      break;
    case 'store-reply': {
      const request = pending.get(message.id);
      if (!request) break;
      pending.delete(message.id);
      if (message.ok) request.resolve(message.value);
      else request.reject(Object.assign(new Error(message.error.message), message.error));
      break;
    }
  }
});

// The parent is gone: stop the current task and leave.
process.on('disconnect', () => {
  current?.controller.abort();
  setTimeout(() => process.exit(0), 2000).unref();
});
// Signals are the parent's business (it forwards SIGTERM as a `shutdown` message).
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => void shutdown());

if (!process.send) {
  process.stderr.write(
    'This program is started by the ncr-upload runner (process isolation); run `ncr-upload worker` instead.\n',
  );
  process.exit(1);
}

load().then(
  () => send({ type: 'ready', pid: process.pid }),
  (error: unknown) => {
    send({ type: 'start-failed', message: error instanceof Error ? error.message : String(error) });
    setTimeout(() => process.exit(1), 100).unref();
  },
);
