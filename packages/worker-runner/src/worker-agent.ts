import { hostname } from 'node:os';
import {
  defaultWorkerControl,
  type Logger,
  type StatusStore,
  type WorkerControl,
  type WorkerHeartbeat,
} from '@ncr-upload/core';

/** What the runner reports about itself on each heartbeat. */
export type WorkerFigures = Pick<
  WorkerHeartbeat,
  'concurrency' | 'concurrency_current' | 'active' | 'memory_percent' | 'paused' | 'pause_reason' | 'draining'
>;

export interface WorkerAgentOptions {
  /** The status store shared by the deployment (it needs `reportWorker`). */
  store: StatusStore;
  workerId: string;
  /** This worker's figures now. */
  figures: () => Promise<WorkerFigures>;
  /** Apply the control in force; called at start and whenever it changes. */
  apply: (control: WorkerControl, previous: WorkerControl) => Promise<void>;
  /** Queue depth, sampled into the store's metric buckets. Default: none. */
  queueDepth?: () => Promise<{ waiting: number; active: number }>;
  /** Heartbeat (and control read) interval. Default 1000 ms. */
  heartbeatMs?: number;
  /** How often the queue depth is sampled. Default 15000 ms. */
  sampleMs?: number;
  logger?: Logger;
}

export interface WorkerAgent {
  start(): Promise<void>;
  /** The control applied last. */
  readonly control: WorkerControl;
  /** Stop beating; a last heartbeat marks the worker offline at once. */
  stop(): Promise<void>;
}

const same = (a: WorkerControl, b: WorkerControl) =>
  a.paused === b.paused && a.concurrency === b.concurrency && a.stop === b.stop;

/**
 * A worker's link to the console: every `heartbeatMs` it writes the worker's
 * figures to the status store and reads back the control operators set there
 * (pause, concurrency, stop), then applies what changed. The control is
 * persisted in the store, so it reaches workers on any machine, and a worker
 * that starts later obeys a "pause all" given before.
 */
export function createWorkerAgent(options: WorkerAgentOptions): WorkerAgent {
  const { store, workerId } = options;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const sampleMs = options.sampleMs ?? 15_000;
  const startedAt = new Date().toISOString();
  const host = hostname();
  let applied = defaultWorkerControl();
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | null = null;
  let lastSample = 0;
  let stopped = false;

  async function heartbeat(ttlMs: number, override: Partial<WorkerFigures> = {}): Promise<WorkerControl> {
    const figures = { ...(await options.figures()), ...override };
    const report: WorkerHeartbeat = {
      id: workerId,
      host,
      pid: process.pid,
      started_at: startedAt,
      memory_rss: process.memoryUsage().rss,
      ...figures,
    };
    return (store.reportWorker as NonNullable<StatusStore['reportWorker']>)(report, { ttlMs });
  }

  async function beat(): Promise<void> {
    try {
      const control = await heartbeat(heartbeatMs * 5);
      if (!same(control, applied) && !stopped) {
        const previous = applied;
        applied = control;
        options.logger?.info({ worker: workerId, control }, 'worker control changed');
        await options.apply(control, previous);
      }
      if (options.queueDepth && store.recordQueueDepth && Date.now() - lastSample >= sampleMs) {
        lastSample = Date.now();
        const depth = await options.queueDepth();
        await store.recordQueueDepth({ at: lastSample, ...depth });
      }
    } catch (error) {
      options.logger?.warn({ worker: workerId, err: (error as Error)?.message }, 'worker heartbeat failed');
    }
  }

  const tick = () => {
    if (beating || stopped) return;
    beating = beat().finally(() => {
      beating = null;
    });
  };

  return {
    get control() {
      return applied;
    },
    async start() {
      if (!store.reportWorker) return;
      await beat();
      timer = setInterval(tick, heartbeatMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await beating;
      if (!store.reportWorker) return;
      await heartbeat(0, { draining: true, active: 0 }).catch(() => undefined);
    },
  };
}
