import { EventEmitter } from 'node:events';
import {
  isTerminal,
  type Logger,
  type MemoryMonitor,
  type MemorySnapshot,
  UploadError,
  type UploadPipeline,
} from '@ncr-upload/core';
import { decideAdmission, type ThrottleState } from './admission.js';
import { ChildPool } from './child-pool.js';
import { createLoopGuard, type LoopGuard } from './loop-guard.js';
import { loadPipelineModule } from './pipeline-module.js';
import { type ConsoleControlled, linkConsole } from './runner-console.js';
import { resolveRunnerSettings } from './runner-settings.js';
import type { RunnerEvents, RunnerOptions, RunnerStats, StopSummary } from './runner-types.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** How often the event-loop delay is read when `maxLoopDelayMs` is set. */
const LOOP_CHECK_INTERVAL_MS = 250;

/**
 * The memory-aware runner: consumes the pipeline's queue inline or in child
 * processes, pauses the queue while memory is above the threshold, adjusts
 * concurrency to measured memory per job, recycles children, and drains on stop.
 */
export class Runner extends EventEmitter<RunnerEvents> implements ConsoleControlled {
  readonly isolation: 'inline' | 'process';
  readonly maxConcurrency: number;
  private readonly options: RunnerOptions;
  private readonly logger: Logger;
  private readonly shutdownTimeoutMs: number;
  private readonly resumeMarginPercent: number;
  private pipelineValue: UploadPipeline | undefined;
  private closeOwnedPipeline: ((options?: { timeoutMs?: number }) => Promise<void>) | undefined;
  private monitor: MemoryMonitor | undefined;
  /** The child processes of process isolation (none inline). */
  private readonly pool: ChildPool;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private stopping: Promise<StopSummary> | undefined;
  private readyValue = false;
  private concurrencyValue: number;
  private throttleState: ThrottleState | null = null;
  private lastSnapshot: MemorySnapshot | null = null;
  private baselineRss = 0;
  private checking = false;
  private loopGuard: LoopGuard | undefined;
  /** Set by an operator through the console (runner-console.ts): no jobs taken while true. */
  operatorPaused = false;
  /** Set by an operator through the console: the concurrency to run with instead of `maxConcurrency`. */
  operatorConcurrency: number | null = null;
  private consoleAgent: Awaited<ReturnType<typeof linkConsole>> = null;

  constructor(options: RunnerOptions) {
    super();
    const settings = resolveRunnerSettings(options);
    this.options = options;
    this.logger = options.logger ?? silent;
    this.isolation = settings.isolation;
    this.maxConcurrency = settings.maxConcurrency;
    this.shutdownTimeoutMs = settings.shutdownTimeoutMs;
    this.resumeMarginPercent = settings.resumeMarginPercent;
    this.concurrencyValue = this.maxConcurrency;
    this.pipelineValue = options.pipeline;
    this.pool = new ChildPool({
      options,
      logger: this.logger,
      events: this,
      pipeline: () => this.pipeline,
      isStopping: () => this.stopping !== undefined,
      maxTasksPerChild: settings.maxTasksPerChild,
      maxMemoryPerChildKb: settings.maxMemoryPerChildKb,
    });
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
      await pipeline.start({ execute: (item, context) => this.pool.run(item, context) });
      pipeline.queue.setConcurrency?.(this.maxConcurrency);
      // A cancelled task running in a child: abort it there.
      this.unsubscribe = pipeline.subscribe((event) => {
        if (event.state === 'cancelled') this.pool.abort(event.task_id);
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
        ({ active, jobsMemory } = this.pool.busyMemory());
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

  /** Replace every child process, one at a time as each becomes idle; running jobs finish first. Resolves when all old children exited. */
  async restartChildren(): Promise<void> {
    await this.pool.restart();
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
      await this.pool.stopAll();
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
    if (this.isolation === 'process') return this.pool.runningTaskIds();
    const pipeline = this.pipeline;
    const workerId = (await pipeline.stats()).worker_id;
    const active = await pipeline.statusStore.listActive();
    return active
      .filter((task) => task.worker === workerId && task.state !== 'queued')
      .map((task) => task.task_id);
  }

  /** Figures for the console heartbeat (runner-console.ts). */
  async figures() {
    const active = this.isolation === 'process' ? this.pool.running : (await this.pipeline.stats()).active;
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
    const children = this.pool.childStats();
    let lastJobAt = this.pool.lastJobAt;
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
      ...this.pool.counters,
      children,
      memory: this.lastSnapshot,
    };
  }
}

/** Create a runner; see `RunnerOptions`. Call `start()` to begin and `stop()` to drain. */
export function createRunner(options: RunnerOptions): Runner {
  return new Runner(options);
}
