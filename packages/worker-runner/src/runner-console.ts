import type { Logger, UploadPipeline, WorkerControl } from '@ncr-upload/core';
import type { ThrottleState } from './admission.js';
import { createWorkerAgent, type WorkerAgent } from './worker-agent.js';

/** What the console link needs from the runner. */
export interface ConsoleControlled {
  readonly pipeline: UploadPipeline;
  /** The concurrency the runner was configured with. */
  readonly maxConcurrency: number;
  /** The operator's pause and concurrency, applied by `checkMemory`. */
  operatorPaused: boolean;
  operatorConcurrency: number | null;
  figures(): Promise<{
    concurrency_current: number;
    active: number;
    throttle: ThrottleState | null;
    memory_percent: number;
    draining: boolean;
  }>;
  /** Re-evaluate admission (pause/resume and concurrency) now. */
  checkMemory(): Promise<unknown>;
  /** Drain and stop, as SIGTERM does. */
  requestStop(): void;
}

/**
 * Link a runner to the console through its status store: a heartbeat with the
 * runner's figures, and the operators' controls applied to it (pause/resume
 * consuming, concurrency, drain and stop). Null when the store has no worker
 * directory.
 */
export async function linkConsole(
  runner: ConsoleControlled,
  options: { logger: Logger; heartbeatMs?: number },
): Promise<WorkerAgent | null> {
  const pipeline = runner.pipeline;
  if (!pipeline.statusStore.reportWorker) return null;
  const workerId = (await pipeline.stats()).worker_id;
  const agent = createWorkerAgent({
    store: pipeline.statusStore,
    workerId,
    logger: options.logger,
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    async figures() {
      const figures = await runner.figures();
      const memoryPaused = figures.throttle?.paused ?? false;
      return {
        concurrency: runner.operatorConcurrency ?? runner.maxConcurrency,
        concurrency_current: figures.concurrency_current,
        active: figures.active,
        memory_percent: figures.memory_percent,
        paused: runner.operatorPaused || memoryPaused,
        pause_reason: runner.operatorPaused ? 'operator' : memoryPaused ? 'memory' : null,
        draining: figures.draining,
      };
    },
    async queueDepth() {
      const counts = await pipeline.queue.counts();
      return { waiting: counts.waiting, active: counts.active };
    },
    async apply(control: WorkerControl, previous: WorkerControl) {
      if (control.stop && !previous.stop) {
        options.logger.info({ worker: workerId }, 'an operator asked this worker to drain and stop');
        runner.requestStop();
        return;
      }
      runner.operatorConcurrency = control.concurrency;
      if (control.paused !== runner.operatorPaused) {
        runner.operatorPaused = control.paused;
        if (control.paused) await pipeline.queue.pause();
        // Memory may still hold the queue paused: then the memory check resumes it later.
        else if (!(await runner.figures()).throttle?.paused) await pipeline.queue.resume();
        options.logger.info({ worker: workerId, paused: control.paused }, 'consuming changed by an operator');
      }
      // Applies the concurrency (bounded by memory admission).
      await runner.checkMemory();
    },
  });
  await agent.start();
  return agent;
}
