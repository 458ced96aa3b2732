import type { EventEmitter } from 'node:events';
import { type Logger, type QueueItem, UploadError, type UploadPipeline } from '@ncr-upload/core';
import { type ChildOutcome, ChildWorker } from './child-worker.js';
import { CHILD_ENV } from './ipc.js';
import type { ChildStats, RunnerEvents, RunnerOptions } from './runner-types.js';

const now = () => new Date().toISOString();

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface ChildPoolOptions {
  /** The runner's options (read for `pipelineModule`, `childEnv` and `jobTimeoutMs` when they are used). */
  options: RunnerOptions;
  logger: Logger;
  /** The runner: `job-start`, `job-end`, `recycle` and `child-exit` are emitted on it. */
  events: EventEmitter<RunnerEvents>;
  /** The runner's pipeline (read once it has started). */
  pipeline: () => UploadPipeline;
  /** True once the runner's stop has begun: a child that finishes a job then stops. */
  isStopping: () => boolean;
  maxTasksPerChild: number;
  maxMemoryPerChildKb: number;
}

/**
 * The runner's child processes (process isolation): each job runs in an idle
 * child or a new one; a child is recycled after too many jobs or too much
 * memory, and a crash, a start failure or the hard time limit fails only its job.
 */
export class ChildPool {
  private readonly settings: ChildPoolOptions;
  private readonly children = new Set<ChildWorker>();
  private idle: ChildWorker[] = [];
  private readonly inFlight = new Map<string, ChildWorker | null>();
  /** When the last job was taken (process isolation). */
  lastJobAt: string | null = null;
  readonly counters = { jobs_started: 0, jobs_finished: 0, crashes: 0, timeouts: 0, recycles: 0 };

  constructor(settings: ChildPoolOptions) {
    this.settings = settings;
  }

  /** Jobs running in children (or waiting for one) now. */
  get running(): number {
    return this.inFlight.size;
  }

  /** The tasks running in children (or waiting for one) now. */
  runningTaskIds(): string[] {
    return [...this.inFlight.keys()];
  }

  /** Abort a task in the child running it, if any. */
  abort(taskId: string): void {
    this.inFlight.get(taskId)?.abort(taskId);
  }

  /** The busy children with a memory reading, and their memory together (null when none). */
  busyMemory(): { active: number; jobsMemory: number | null } {
    const busy = [...this.children].filter((child) => child.busy && child.rss > 0);
    const active = busy.length;
    return { active, jobsMemory: active > 0 ? busy.reduce((sum, child) => sum + child.rss, 0) : null };
  }

  childStats(): ChildStats[] {
    return [...this.children].map((child) => ({
      pid: child.pid,
      tasks_done: child.tasksDone,
      rss: child.rss,
      task_id: child.currentTaskId,
      retiring: child.retireReason,
    }));
  }

  private async acquireChild(): Promise<ChildWorker | ChildOutcome> {
    const reused = this.idle.pop();
    if (reused && !reused.exited) return reused;
    const pipeline = this.settings.pipeline();
    const child = new ChildWorker({
      pipelineModule: this.settings.options.pipelineModule,
      statusStore: pipeline.statusStore,
      env: { ...this.settings.options.childEnv, [CHILD_ENV.workerId]: pipeline.worker.workerId },
    });
    this.children.add(child);
    void child.exit.then(({ code, signal, taskId }) => {
      this.children.delete(child);
      this.idle = this.idle.filter((entry) => entry !== child);
      this.settings.events.emit('child-exit', {
        pid: child.pid,
        code,
        signal,
        task_id: taskId,
        expected: taskId === null,
      });
    });
    const ready = await child.ready;
    if (!ready.ok) return ready.outcome;
    this.settings.logger.debug({ pid: child.pid }, 'worker process started');
    return child;
  }

  private retire(child: ChildWorker, reason: string): void {
    this.counters.recycles += 1;
    this.idle = this.idle.filter((entry) => entry !== child);
    this.settings.logger.info(
      { pid: child.pid, reason, tasks_done: child.tasksDone },
      'recycling worker process',
    );
    this.settings.events.emit('recycle', {
      pid: child.pid,
      reason,
      tasks_done: child.tasksDone,
      rss: child.rss,
    });
    void child.stop();
  }

  private afterJob(child: ChildWorker): void {
    const { maxTasksPerChild, maxMemoryPerChildKb } = this.settings;
    const rssKb = Math.round(child.rss / 1024);
    if (child.retireReason) this.retire(child, child.retireReason);
    else if (child.tasksDone >= maxTasksPerChild) {
      this.retire(child, `max tasks per child reached (${child.tasksDone} of ${maxTasksPerChild})`);
    } else if (rssKb > maxMemoryPerChildKb) {
      this.retire(child, `RSS ${rssKb} KB is above max memory per child ${maxMemoryPerChildKb} KB`);
    } else if (this.settings.isStopping()) void child.stop();
    else this.idle.push(child);
  }

  /**
   * Run the item in a child. A crash, a start failure or the hard time limit
   * rejects with an `UploadError`; the pipeline's task worker then applies the
   * one retry policy or ends the task. A crash fails only this job.
   */
  async run(item: QueueItem, context: { signal: AbortSignal }): Promise<void> {
    const events = this.settings.events;
    this.lastJobAt = now();
    this.counters.jobs_started += 1;
    events.emit('job-start', { task_id: item.task_id });
    this.inFlight.set(item.task_id, null);
    let finalState: string | null = null;
    try {
      const acquired = await this.acquireChild();
      let outcome: ChildOutcome;
      let timedOut = false;
      if (acquired instanceof ChildWorker) {
        const child = acquired;
        this.inFlight.set(item.task_id, child);
        const onAbort = () => child.abort(item.task_id);
        context.signal.addEventListener('abort', onAbort, { once: true });
        const limit = this.settings.options.jobTimeoutMs;
        const timer =
          limit && limit > 0
            ? setTimeout(() => {
                timedOut = true;
                child.kill('SIGKILL');
              }, limit)
            : undefined;
        outcome = await child.run(item);
        clearTimeout(timer);
        context.signal.removeEventListener('abort', onAbort);
        if (outcome.kind === 'done') {
          finalState = outcome.state;
          this.afterJob(child);
          return;
        }
      } else {
        outcome = acquired;
      }
      throw await this.failureOf(item, outcome, timedOut);
    } finally {
      this.inFlight.delete(item.task_id);
      this.counters.jobs_finished += 1;
      events.emit('job-end', { task_id: item.task_id, state: finalState });
    }
  }

  /** The error of a crash, a start failure or a timeout of a child (logged and counted here). */
  private async failureOf(item: QueueItem, outcome: ChildOutcome, timedOut: boolean): Promise<UploadError> {
    const record = await this.settings
      .pipeline()
      .statusStore.getTask(item.task_id)
      .catch(() => null);
    const stage = record?.stage ?? 'queue';
    let error: UploadError;
    if (timedOut) {
      this.counters.timeouts += 1;
      const seconds = Math.round((this.settings.options.jobTimeoutMs ?? 0) / 100) / 10;
      error = new UploadError(
        'TIMEOUT',
        `The job ran longer than its timeout of ${seconds} s (in stage ${stage}); its worker process was stopped.`,
        { stage, retryable: true },
      );
    } else if (outcome.kind === 'start-failed') {
      error = new UploadError('WORKER_CRASHED', `The worker process could not start: ${outcome.message}`, {
        stage: 'queue',
        retryable: false,
      });
    } else {
      this.counters.crashes += 1;
      const how =
        outcome.kind === 'exited' && outcome.signal
          ? `signal ${outcome.signal}`
          : `code ${outcome.kind === 'exited' ? outcome.code : '?'}`;
      error = new UploadError('WORKER_CRASHED', `worker process exited with ${how} while in stage ${stage}`, {
        stage,
        retryable: true,
      });
    }
    this.settings.logger.error({ task_id: item.task_id, code: error.code, stage }, error.message);
    return error;
  }

  /** Replace every child process, one at a time as each becomes idle; running jobs finish first. Resolves when all old children exited. */
  async restart(): Promise<void> {
    const old = [...this.children];
    this.settings.logger.info({ children: old.length }, 'rolling restart of worker processes');
    for (const child of old) {
      if (child.exited) continue;
      // Only an idle child stops now; a busy one, or one still starting for a job, is retired after that job.
      if (this.idle.includes(child)) this.retire(child, 'rolling restart');
      else child.retireReason = 'rolling restart';
    }
    await Promise.all(old.map((child) => child.exit));
  }

  /** On stop: handed-back jobs report back quickly once aborted; give them a moment, then stop every child. */
  async stopAll(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.inFlight.size > 0 && Date.now() < deadline) await sleep(50);
    await Promise.all([...this.children].map((child) => child.stop()));
  }
}
