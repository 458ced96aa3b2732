import type { Logger, MemoryMonitor, MemorySnapshot, UploadPipeline } from '@ncr-upload/core';
import type { ThrottleState } from './admission.js';

export interface RunnerOptions {
  /** The pipeline whose queue the runner consumes. Required unless `pipelineModule` is given. */
  pipeline?: UploadPipeline;
  /**
   * A module exporting `createPipeline(context)` (or a default export): child
   * processes load it to build their own pipeline, and the runner loads it when
   * `pipeline` is not given. Default: children build their pipeline from the
   * environment configuration (`loadConfig()` + `buildPipelineFromConfig`).
   */
  pipelineModule?: string;
  /**
   * Hysteresis of memory admission: once paused above `maxMemoryPercent`, the
   * queue resumes only when memory is at or below `maxMemoryPercent` minus this
   * many percentage points, so readings hovering at the threshold do not flap
   * between pause and resume. Default 2.
   */
  memoryResumeMarginPercent?: number;
  /** Most jobs run at once. Default 4 (`WORKER_CONCURRENCY`). */
  concurrency?: number;
  /** No new jobs are taken while system memory is above this percent. Default 80 (`MAX_MEMORY_USAGE_PERCENT`). */
  maxMemoryPercent?: number;
  /** `inline`: jobs run in this process; `process`: each job runs in a forked child process. Default `inline`. */
  isolation?: 'inline' | 'process';
  /** A child process is replaced after this many jobs. Default 1000 (`WORKER_MAX_TASKS_PER_CHILD`). */
  maxTasksPerChild?: number;
  /** A child process is replaced after a job that left its RSS above this many KB. Default 200000 (`WORKER_MAX_MEMORY_PER_CHILD`). */
  maxMemoryPerChildKb?: number;
  /**
   * Hard limit of one job run in a child process (its retries included): the
   * child is killed and the task recorded as `TIMEOUT`. The pipeline's own
   * per-attempt `jobTimeoutMs` applies cooperatively in both modes. Default: none.
   */
  jobTimeoutMs?: number;
  /** On `stop()`, how long running jobs may finish before they are handed back. Default 30000 (`SHUTDOWN_TIMEOUT`). */
  shutdownTimeoutMs?: number;
  /** Memory readings for admission. Default: the pipeline's (`pipeline.memory()`). */
  memoryMonitor?: MemoryMonitor;
  /** How often memory is checked. Default 1000 ms. */
  memoryCheckIntervalMs?: number;
  /**
   * Bounded share of the event loop for jobs run inline next to an HTTP API in
   * the same process (`ncr-upload serve`): every 250 ms the runner reads this
   * process's event-loop delay (p99 of the window, `perf_hooks`) and
   * utilization, halves the jobs it takes at once while the delay is above this
   * many ms and the loop was busy at least half the window (down to 1, so jobs
   * still progress), and takes one more per reading while not, up
   * to `concurrency`. Memory admission still applies; the
   * lower limit wins. 0 turns it off. Default 0 (off); `serve` sets it from
   * `SERVE_MAX_LOOP_DELAY_MS` (default 5).
   */
  maxLoopDelayMs?: number;
  /** Extra environment for child processes. Default: none. */
  childEnv?: Record<string, string>;
  /** Structured logger (pino-compatible). Default: silent. */
  logger?: Logger;
  /**
   * How often the runner reports its figures to the console (through the status
   * store's worker directory) and reads the operators' controls. Default 1000 ms.
   */
  consoleHeartbeatMs?: number;
}

export interface ChildStats {
  pid: number | undefined;
  tasks_done: number;
  rss: number;
  task_id: string | null;
  retiring: string | null;
}

export interface RunnerStats {
  isolation: 'inline' | 'process';
  /** False before start, and from the moment stop() begins. */
  ready: boolean;
  stopping: boolean;
  max_concurrency: number;
  concurrency: number;
  throttle: ThrottleState | null;
  /** When the last job was taken (liveness). */
  last_job_at: string | null;
  jobs_started: number;
  jobs_finished: number;
  crashes: number;
  timeouts: number;
  recycles: number;
  children: ChildStats[];
  memory: MemorySnapshot | null;
}

export interface StopSummary {
  /** Tasks running when stop() began. */
  in_flight: number;
  /** Of those, the ones that reached a terminal state. */
  finished: number;
  /** Of those, the ones handed back (queued again) after the shutdown timeout. */
  handed_back: number;
}

export interface RecycleEvent {
  pid: number | undefined;
  reason: string;
  tasks_done: number;
  rss: number;
}

export interface ChildExitEvent {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The task it was running, if any (then the exit was a crash). */
  task_id: string | null;
  expected: boolean;
}

/** Events: `throttle` and `resume` (ThrottleState), `concurrency`, `recycle` (RecycleEvent), `child-exit` (ChildExitEvent), `job-start`, `job-end`, `stopping`, `stopped`, `stop-requested`. */
export interface RunnerEvents {
  throttle: [ThrottleState];
  resume: [ThrottleState];
  concurrency: [{ from: number; to: number; reason: string | null }];
  recycle: [RecycleEvent];
  'child-exit': [ChildExitEvent];
  'job-start': [{ task_id: string }];
  'job-end': [{ task_id: string; state: string | null }];
  stopping: [];
  stopped: [StopSummary];
  /** An operator asked this worker to drain and stop (console); the CLI then stops as on SIGTERM. */
  'stop-requested': [];
}
