import { readFile } from 'node:fs/promises';

/** `submit` and `status`: small HTTP clients of the API. */

export interface ClientOptions {
  url: string;
  apiKey: string | undefined;
  out: NodeJS.WriteStream;
}

interface TaskView {
  task_id: string;
  state: string;
  stage: string | null;
  progress?: {
    files_done: number;
    files_total: number;
    bytes_done: number;
    bytes_total: number;
    percent: number;
  };
  error?: { code: string; message: string } | null;
  result?: { remote_path: string; size: number } | null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);

async function request(
  options: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  let response: Response;
  try {
    response = await fetch(new URL(path, options.url), {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new Error(
      `Cannot reach the API at ${options.url} (${(error as Error).cause ?? (error as Error).message}). Is \`ncr-upload serve\` running?`,
    );
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  if (!response.ok) {
    const detail = (parsed as { detail?: unknown; message?: unknown; title?: unknown }) ?? {};
    // `detail` is FastAPI's array for an invalid request; the sentence is then in `message`.
    const sentence = typeof detail.detail === 'string' ? detail.detail : undefined;
    const reason = typeof detail === 'object' ? (sentence ?? detail.message ?? detail.title) : detail;
    throw new Error(
      `${method} ${path} answered ${response.status}: ${typeof reason === 'string' ? reason : JSON.stringify(parsed)}`,
    );
  }
  return parsed;
}

async function readJob(source: string): Promise<unknown> {
  let text: string;
  if (source === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    text = await readFile(source, 'utf8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(
      `${source === '-' ? 'standard input' : source} is not valid JSON: ${(error as Error).message}`,
    );
  }
}

const formatBytes = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${bytes} B`;

function describe(task: TaskView): string {
  const progress = task.progress;
  const figures = progress
    ? ` ${progress.percent.toFixed(0)}% files ${progress.files_done}/${progress.files_total} ${formatBytes(progress.bytes_done)}/${formatBytes(progress.bytes_total)}`
    : '';
  return `${task.task_id} ${task.state}${task.stage ? ` [${task.stage}]` : ''}${figures}`;
}

/** Poll the task until it is terminal; print a live line on a terminal, one line per change otherwise. */
async function waitForTask(options: ClientOptions, taskId: string, intervalMs = 300): Promise<TaskView> {
  const tty = options.out.isTTY === true;
  let previous = '';
  for (;;) {
    const task = (await request(options, 'GET', `/job-status/${encodeURIComponent(taskId)}`)) as TaskView;
    const line = describe(task);
    if (tty) options.out.write(`\r\x1b[2K${line}`);
    else if (line !== previous) options.out.write(`${line}\n`);
    previous = line;
    if (TERMINAL.has(task.state)) {
      if (tty) options.out.write('\n');
      return task;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `ncr-upload submit <job.json | -> [--wait]`: returns the exit code. */
export async function submitCommand(options: ClientOptions, source: string, wait: boolean): Promise<number> {
  const job = await readJob(source);
  if (Array.isArray(job)) {
    const batch = (await request(options, 'POST', '/process-batch', job)) as {
      batch_id: string;
      task_ids: string[];
      message: string;
    };
    options.out.write(`batch ${batch.batch_id}: ${batch.message}\n`);
    if (!wait) {
      options.out.write(`${JSON.stringify(batch, null, 2)}\n`);
      return 0;
    }
    let failures = 0;
    for (const taskId of batch.task_ids) {
      const task = await waitForTask(options, taskId);
      if (task.state !== 'succeeded') failures += 1;
    }
    return failures === 0 ? 0 : 1;
  }
  const submitted = (await request(options, 'POST', '/process-job', job)) as {
    task_id: string;
    status: string;
    message: string;
  };
  options.out.write(`task ${submitted.task_id} ${submitted.status}: ${submitted.message}\n`);
  if (!wait) return 0;
  const task = await waitForTask(options, submitted.task_id);
  if (task.state === 'succeeded') {
    options.out.write(
      `succeeded: delivered ${task.result?.remote_path ?? ''} (${formatBytes(task.result?.size ?? 0)})\n`,
    );
    return 0;
  }
  options.out.write(
    `${task.state}: ${task.error ? `${task.error.code}: ${task.error.message}` : 'no details'}\n`,
  );
  return 1;
}

/** `ncr-upload status <task_id>`. */
export async function statusCommand(options: ClientOptions, taskId: string): Promise<number> {
  const task = await request(options, 'GET', `/job-status/${encodeURIComponent(taskId)}`);
  options.out.write(`${JSON.stringify(task, null, 2)}\n`);
  return 0;
}
