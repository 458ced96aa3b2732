import { EventEmitter } from 'node:events';
import {
  isTerminal,
  type Logger,
  type MemoryMonitor,
  type MemorySnapshot,
  type QueueItem,
  UploadError,
  type UploadPipeline,
} from '@ncr-upload/core';
import { decideAdmission, type ThrottleState } from './admission.js';
import { type ChildOutcome, ChildWorker } from './child-worker.js';
import { CHILD_ENV } from './ipc.js';
import { createLoopGuard, type LoopGuard } from './loop-guard.js';
import { loadPipelineModule } from './pipeline-module.js';
import { type ConsoleControlled, linkConsole } from './runner-console.js';
import type { ChildStats, RunnerEvents, RunnerOptions, RunnerStats, StopSummary } from './runner-types.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const now = () => new Date().toISOString();

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new UploadError(
      'CONFIG_INVALID',
      `${name} must be an integer of at least 1, got ${String(value)}.`,
    );
  }
  return value;
}

/** Timers hold at most 2^31-1 ms; Node fires a longer one after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function timerMs(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new UploadError(
      'CONFIG_INVALID',
      `${name} must be a number of milliseconds between 0 and ${MAX_TIMER_MS}, got ${String(value)}.`,
    );
  }
  return value;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The memory-aware runner: consumes the pipeline's queue inline or in child
 * processes, pauses the queue while memory is above the threshold, adjusts
 * concurrency to measured memory per job, recycles children, and drains on stop.
 */
/** How often the event-loop delay is read when `maxLoopDelayMs` is set. */
const LOOP_CHECK_INTERVAL_MS = 250;

export class Runner extends EventEmitter<RunnerEvents> implements ConsoleControlled {
  readonly isolation: 'inline' | 'process';
  readonly maxConcurrency: number;
  private readonly options: RunnerOptions;
  private readonly logger: Logger;
  private readonly maxTasksPerChild: number;
  private readonly maxMemoryPerChildKb: number;
  private readonly shutdownTimeoutMs: number;
  private readonly resumeMarginPercent: number;
  private pipelineValue: UploadPipeline | undefined;
  private closeOwnedPipeline: ((options?: { timeoutMs?: number }) => Promise<void>) | undefined;
  private monitor: MemoryMonitor | undefined;
  private readonly children = new Set<ChildWorker>();
  private idle: ChildWorker[] = [];
  private readonly inFlight = new Map<string, ChildWorker | null>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private stopping: Promise<StopSummary> | undefined;
  private readyValue = false;
  private concurrencyValue: number;
  private throttleState: ThrottleState | null = null;
  private lastSnapshot: MemorySnapshot | null = null;
  private baselineRss = 0;
  private lastJobAt: string | null = null;
  private counters = { jobs_started: 0, jobs_finished: 0, crashes: 0, timeouts: 0, recycles: 0 };
  private checking = false;
  private loopGuard: LoopGuard | undefined;
  /** Set by an operator through the console (runner-console.ts): no jobs taken while true. */
  operatorPaused = false;
  /** Set by an operator through the console: the concurrency to run with instead of `maxConcurrency`. */
  operatorConcurrency: number | null = null;
  private consoleAgent: Awaited<ReturnType<typeof linkConsole>> = null;

  constructor(options: RunnerOptions) {
    super();
    if (!options.pipeline && !options.pipelineModule) {
      throw new UploadError('CONFIG_INVALID', 'createRunner needs a pipeline or a pipelineModule.');
    }
    this.options = options;
    this.logger = options.logger ?? silent;
    this.isolation = options.isolation ?? 'inline';
    if (this.isolation !== 'inline' && this.isolation !== 'process') {
      throw new UploadError(
        'CONFIG_INVALID',
        `isolation must be inline or process, got ${String(this.isolation)}.`,
      );
    }
    this.maxConcurrency = positiveInteger('concurrency', options.concurrency ?? 4);
    this.maxTasksPerChild = positiveInteger('maxTasksPerChild', options.maxTasksPerChild ?? 1000);
    this.maxMemoryPerChildKb = positiveInteger('maxMemoryPerChildKb', options.maxMemoryPerChildKb ?? 200_000);
    this.shutdownTimeoutMs = timerMs('shutdownTimeoutMs', options.shutdownTimeoutMs) ?? 30_000;
    this.resumeMarginPercent = options.memoryResumeMarginPercent ?? 2;
    if (!Number.isFinite(this.resumeMarginPercent) || this.resumeMarginPercent < 0) {
      throw new UploadError('CONFIG_INVALID', 'memoryResumeMarginPercent must be a number of at least 0.');
    }
    timerMs('jobTimeoutMs', options.jobTimeoutMs);
    timerMs('memoryCheckIntervalMs', options.memoryCheckIntervalMs);
    if (
      options.maxLoopDelayMs !== undefined &&
      (!Number.isFinite(options.maxLoopDelayMs) || options.maxLoopDelayMs < 0)
    ) {
      throw new UploadError('CONFIG_INVALID', 'maxLoopDelayMs must be a number of at least 0.');
    }
    this.concurrencyValue = this.maxConcurrency;
    this.pipelineValue = options.pipeline;
  }

  /** The pipeline the runner consumes (after `start()` when loaded from `pipelineModule`). */
  get pipeline(): UploadPipeline {
    if (!this.pipelineValue) throw new UploadError('INVALID_STATE', 'The runner has not started yet.');
    return this.pipelineValue;
  }

  /** True from `start()` until `stop()` begins: wire it to the readiness probe. */
  get ready(): boolean {
    return this.readyValue;
  }

  async start(): Promise<void> {
    if (this.started) throw new UploadError('INVALID_STATE', 'The runner was already started.');
    this.started = true;
    if (!this.pipelineValue && this.options.pipelineModule) {
      const loaded = await loadPipelineModule(this.options.pipelineModule, {
        role: 'main',
        logger: this.logger,
      });
      this.pipelineValue = loaded.pipeline;
      this.closeOwnedPipeline = loaded.close;
    }
    const pipeline = this.pipeline;
    this.monitor = this.options.memoryMonitor ?? {
      snapshot: () => pipeline.memory(),
      acceptingJobs: () => pipeline.memory().accepting_jobs,
    };
    this.baselineRss = process.memoryUsage().rss;
    if (this.isolation === 'inline') {
      await pipeline.start();
      pipeline.queue.setConcurrency?.(this.maxConcurrency);
    } else {
      await pipeline.start({ execute: (item, context) => this.runInChild(item, context) });
      pipeline.queue.setConcurrency?.(this.maxConcurrency);
      // A cancelled task running in a child: abort it there.
      this.unsubscribe = pipeline.subscribe((event) => {
        const child = this.inFlight.get(event.task_id);
        if (child && event.state === 'cancelled') child.abort(event.task_id);
      });
    }
    const maxLoopDelayMs = this.options.maxLoopDelayMs ?? 0;
    if (maxLoopDelayMs > 0) {
      this.loopGuard = createLoopGuard({
        targetMs: maxLoopDelayMs,
        intervalMs: LOOP_CHECK_INTERVAL_MS,
        max: () => this.operatorConcurrency ?? this.maxConcurrency,
        onChange: (limit, delayMs) =>
          this.applyConcurrency(
            `event-loop delay ${delayMs.toFixed(1)} ms (limit ${maxLoopDelayMs} ms): at most ${limit} jobs at once`,
          ),
      });
    }
    await this.checkMemory();
    this.timer = setInterval(() => void this.checkMemory(), this.options.memoryCheckIntervalMs ?? 1000);
    this.timer.unref();
    this.readyValue = true;
    // Console: heartbeat and operator controls through the status store.
    this.consoleAgent = await linkConsole(this, {
      logger: this.logger,
      heartbeatMs: this.options.consoleHeartbeatMs,
    });
    this.logger.info(
      {
        isolation: this.isolation,
        concurrency: this.maxConcurrency,
        max_memory_percent: this.options.maxMemoryPercent ?? 80,
      },
      'runner started',
    );
  }

  /** One memory check: pause/resume the queue and set its concurrency. Runs every `memoryCheckIntervalMs`. */
  async checkMemory(): Promise<ThrottleState | null> {
    if (!this.monitor || this.checking || this.stopping) return this.throttleState;
    this.checking = true;
    try {
      const queue = this.pipeline.queue;
      const snapshot = this.monitor.snapshot();
      const maxPercent = this.options.maxMemoryPercent ?? snapshot.max_memory_percent;
      this.lastSnapshot = { ...snapshot, max_memory_percent: maxPercent };
      let active: number;
      let jobsMemory: number | null;
      if (this.isolation === 'process') {
        const busy = [...this.children].filter((child) => child.busy && child.rss > 0);
        active = busy.length;
        jobsMemory = active > 0 ? busy.reduce((sum, child) => sum + child.rss, 0) : null;
      } else {
        // This process's own count: no Redis round trip (memory checks go on while Redis is down).
        active = this.pipeline.worker.stats().active;
        jobsMemory = active > 0 ? process.memoryUsage().rss - this.baselineRss : null;
      }
      const state = decideAdmission({
        snapshot: this.lastSnapshot,
        maxConcurrency: this.operatorConcurrency ?? this.maxConcurrency,
        active,
        jobsMemory,
        previousPerJob: this.throttleState?.memory_per_job ?? null,
        paused: this.throttleState?.paused ?? false,
        resumeMarginPercent: this.resumeMarginPercent,
      });
      const wasPaused = this.throttleState?.paused ?? false;
      this.throttleState = state;
      if (state.paused && !wasPaused) {
        await queue.pause();
        this.logger.warn({ system_percent: state.system_percent }, state.reason ?? 'throttled');
        this.emit('throttle', state);
      } else if (!state.paused && wasPaused) {
        if (!this.operatorPaused) await queue.resume();
        this.logger.info(
          { system_percent: state.system_percent },
          'memory below the threshold again: taking jobs',
        );
        this.emit('resume', state);
      }
      this.applyConcurrency(state.reason);
      return state;
    } catch (error) {
      this.logger.error({ error: (error as Error)?.message }, 'memory check failed');
      return this.throttleState;
    } finally {
      this.checking = false;
    }
  }

  /** Set the queue's concurrency to the lower of memory admission's and the event loop's limits. */
  private applyConcurrency(reason: string | null): void {
    const queue = this.pipeline.queue;
    const byMemory = this.throttleState?.concurrency ?? this.operatorConcurrency ?? this.maxConcurrency;
    const target = Math.min(byMemory, this.loopGuard?.limit ?? byMemory);
    if (target === this.concurrencyValue || !queue.setConcurrency) return;
    const from = this.concurrencyValue;
    this.concurrencyValue = target;
    queue.setConcurrency(target);
    this.emit('concurrency', { from, to: target, reason });
  }

  private async acquireChild(): Promise<ChildWorker | ChildOutcome> {
    const reused = this.idle.pop();
    if (reused && !reused.exited) return reused;
    const child = new ChildWorker({
      pipelineModule: this.options.pipelineModule,
      statusStore: this.pipeline.statusStore,
      env: { ...this.options.childEnv, [CHILD_ENV.workerId]: this.pipeline.worker.workerId },
    });
    this.children.add(child);
    void child.exit.then(({ code, signal, taskId }) => {
      this.children.delete(child);
      this.idle = this.idle.filter((entry) => entry !== child);
      this.emit('child-exit', { pid: child.pid, code, signal, task_id: taskId, expected: taskId === null });
    });
    const ready = await child.ready;
    if (!ready.ok) return ready.outcome;
    this.logger.debug({ pid: child.pid }, 'worker process started');
    return child;
  }

  private retire(child: ChildWorker, reason: string): void {
    this.counters.recycles += 1;
    this.idle = this.idle.filter((entry) => entry !== child);
    this.logger.info({ pid: child.pid, reason, tasks_done: child.tasksDone }, 'recycling worker process');
    this.emit('recycle', { pid: child.pid, reason, tasks_done: child.tasksDone, rss: child.rss });
    void child.stop();
  }

  private afterJob(child: ChildWorker): void {
    const rssKb = Math.round(child.rss / 1024);
    if (child.retireReason) this.retire(child, child.retireReason);
    else if (child.tasksDone >= this.maxTasksPerChild) {
      this.retire(child, `max tasks per child reached (${child.tasksDone} of ${this.maxTasksPerChild})`);
    } else if (rssKb > this.maxMemoryPerChildKb) {
      this.retire(child, `RSS ${rssKb} KB is above max memory per child ${this.maxMemoryPerChildKb} KB`);
    } else if (this.stopping) void child.stop();
    else this.idle.push(child);
  }

  /**
   * Process isolation: run the item in a child. A crash, a start failure or the
   * hard time limit rejects with an `UploadError`; the pipeline's task worker
   * then applies the one retry policy or ends the task. A crash fails only this job.
   */
  private async runInChild(item: QueueItem, context: { signal: AbortSignal }): Promise<void> {
    this.lastJobAt = now();
    this.counters.jobs_started += 1;
    this.emit('job-start', { task_id: item.task_id });
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
        const limit = this.options.jobTimeoutMs;
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
      this.emit('job-end', { task_id: item.task_id, state: finalState });
    }
  }

  /** The error of a crash, a start failure or a timeout of a child (logged and counted here). */
  private async failureOf(item: QueueItem, outcome: ChildOutcome, timedOut: boolean): Promise<UploadError> {
    const record = await this.pipeline.statusStore.getTask(item.task_id).catch(() => null);
    const stage = record?.stage ?? 'queue';
    let error: UploadError;
    if (timedOut) {
      this.counters.timeouts += 1;
      const seconds = Math.round((this.options.jobTimeoutMs ?? 0) / 100) / 10;
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
    this.logger.error({ task_id: item.task_id, code: error.code, stage }, error.message);
    return error;
  }

  /** Replace every child process, one at a time as each becomes idle; running jobs finish first. Resolves when all old children exited. */
  async restartChildren(): Promise<void> {
    const old = [...this.children];
    this.logger.info({ children: old.length }, 'rolling restart of worker processes');
    for (const child of old) {
      if (child.exited) continue;
      // Only an idle child stops now; a busy one, or one still starting for a job, is retired after that job.
      if (this.idle.includes(child)) this.retire(child, 'rolling restart');
      else child.retireReason = 'rolling restart';
    }
    await Promise.all(old.map((child) => child.exit));
  }

  /** Stop taking jobs, let running ones finish up to `shutdownTimeoutMs`, hand the rest back, stop children. */
  stop(options: { timeoutMs?: number } = {}): Promise<StopSummary> {
    this.stopping ??= this.drain(options.timeoutMs ?? this.shutdownTimeoutMs);
    return this.stopping;
  }

  private async drain(timeoutMs: number): Promise<StopSummary> {
    this.readyValue = false;
    clearInterval(this.timer);
    this.loopGuard?.stop();
    this.emit('stopping');
    if (!this.pipelineValue) return { in_flight: 0, finished: 0, handed_back: 0 };
    const pipeline = this.pipelineValue;
    const inFlightIds = await this.runningTaskIds();
    this.logger.info(
      { in_flight: inFlightIds.length, timeout_ms: timeoutMs },
      'stopping: no new jobs; waiting for running jobs',
    );
    await pipeline.stop({ timeoutMs });
    if (this.isolation === 'process') {
      // Handed-back jobs report back quickly once aborted; give them a moment, then stop every child.
      const deadline = Date.now() + 5000;
      while (this.inFlight.size > 0 && Date.now() < deadline) await sleep(50);
      await Promise.all([...this.children].map((child) => child.stop()));
      this.unsubscribe?.();
    }
    await this.closeOwnedPipeline?.({ timeoutMs: 5000 });
    let finished = 0;
    for (const taskId of inFlightIds) {
      const record = await pipeline.statusStore.getTask(taskId).catch(() => null);
      if (record && isTerminal(record.state)) finished += 1;
    }
    const summary = { in_flight: inFlightIds.length, finished, handed_back: inFlightIds.length - finished };
    this.logger.info(summary, 'runner stopped');
    await this.consoleAgent?.stop();
    this.emit('stopped', summary);
    return summary;
  }

  private async runningTaskIds(): Promise<string[]> {
    if (this.isolation === 'process') return [...this.inFlight.keys()];
    const pipeline = this.pipeline;
    const workerId = (await pipeline.stats()).worker_id;
    const active = await pipeline.statusStore.listActive();
    return active
      .filter((task) => task.worker === workerId && task.state !== 'queued')
      .map((task) => task.task_id);
  }

  /** Figures for the console heartbeat (runner-console.ts). */
  async figures() {
    const active = this.isolation === 'process' ? this.inFlight.size : (await this.pipeline.stats()).active;
    return {
      concurrency_current: this.concurrencyValue,
      active,
      throttle: this.throttleState,
      memory_percent: this.lastSnapshot?.system.percent ?? 0,
      draining: this.stopping !== undefined,
    };
  }

  /** An operator asked for a drain and stop: tell whoever listens (the CLI stops as on SIGTERM), else stop. */
  requestStop(): void {
    if (this.listenerCount('stop-requested') > 0) this.emit('stop-requested');
    else void this.stop();
  }

  async stats(): Promise<RunnerStats> {
    const children: ChildStats[] = [...this.children].map((child) => ({
      pid: child.pid,
      tasks_done: child.tasksDone,
      rss: child.rss,
      task_id: child.currentTaskId,
      retiring: child.retireReason,
    }));
    let lastJobAt = this.lastJobAt;
    if (this.isolation === 'inline' && this.pipelineValue) {
      lastJobAt = (await this.pipelineValue.stats().catch(() => null))?.last_job_at ?? lastJobAt;
    }
    return {
      isolation: this.isolation,
      ready: this.readyValue,
      stopping: this.stopping !== undefined,
      max_concurrency: this.maxConcurrency,
      concurrency: this.concurrencyValue,
      throttle: this.throttleState,
      last_job_at: lastJobAt,
      ...this.counters,
      children,
      memory: this.lastSnapshot,
    };
  }
}

/** Create a runner; see `RunnerOptions`. Call `start()` to begin and `stop()` to drain. */
export function createRunner(options: RunnerOptions): Runner {
  return new Runner(options);
}
