import type { TaskEvent, UploadPipeline } from '@ncr-upload/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerConsoleMetrics } from './console-metrics.js';

export interface UploadMetrics {
  registry: Registry;
  /** Count an HTTP request. */
  observeRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
  /** Stop listening to the pipeline. */
  close(): void;
}

interface TaskTrack {
  state: string;
  stage: string | null;
  stageSince: number;
}

/** Tracked tasks at most; the oldest are dropped beyond it (events of lost tasks only skew durations). */
const MAX_TRACKED = 10_000;
const TERMINAL = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Prometheus metrics fed by pipeline events (state transitions, stage
 * durations, bytes) and by collect callbacks (queue depth, memory) at scrape time.
 */
export function createUploadMetrics(
  pipeline: UploadPipeline,
  options: { registry?: Registry; prefix: string },
): UploadMetrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const name = (suffix: string) => `${options.prefix}${suffix}`;

  const tasks = metric(
    registry,
    name('tasks_total'),
    () =>
      new Counter({
        name: name('tasks_total'),
        help: 'Tasks that entered each state.',
        labelNames: ['state'],
        registers,
      }),
  );
  const stageDuration = metric(
    registry,
    name('stage_duration_seconds'),
    () =>
      new Histogram({
        name: name('stage_duration_seconds'),
        help: 'Time tasks spent in each stage.',
        labelNames: ['stage'],
        buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
        registers,
      }),
  );
  const bytes = metric(
    registry,
    name('bytes_moved_total'),
    () =>
      new Counter({
        name: name('bytes_moved_total'),
        help: 'Bytes delivered: the archive size of each succeeded task.',
        registers,
      }),
  );
  metric(
    registry,
    name('queue_depth'),
    () =>
      new Gauge({
        name: name('queue_depth'),
        help: 'Queue items by state (waiting, active, delayed).',
        labelNames: ['state'],
        registers,
        async collect() {
          const stats = await pipeline.stats();
          this.set({ state: 'waiting' }, stats.queue.waiting);
          this.set({ state: 'active' }, stats.queue.active);
          this.set({ state: 'delayed' }, stats.queue.delayed);
        },
      }),
  );
  metric(
    registry,
    name('memory_bytes'),
    () =>
      new Gauge({
        name: name('memory_bytes'),
        help: 'Memory in bytes: process rss and heap, system used and available.',
        labelNames: ['kind'],
        registers,
        collect() {
          const memory = pipeline.memory();
          this.set({ kind: 'process_rss' }, memory.process.rss);
          this.set({ kind: 'process_heap_used' }, memory.process.heap_used);
          this.set({ kind: 'system_used' }, memory.system.used);
          this.set({ kind: 'system_available' }, memory.system.available);
          this.set({ kind: 'system_total' }, memory.system.total);
        },
      }),
  );
  metric(
    registry,
    name('accepting_jobs'),
    () =>
      new Gauge({
        name: name('accepting_jobs'),
        help: '1 while memory admits new jobs, else 0.',
        registers,
        collect() {
          this.set(pipeline.memory().accepting_jobs ? 1 : 0);
        },
      }),
  );
  // Console gauges (workers online, oldest waiting task, tasks per state): console-metrics.ts.
  registerConsoleMetrics(pipeline, registry, name);
  const requests = metric(
    registry,
    name('http_request_duration_seconds'),
    () =>
      new Histogram({
        name: name('http_request_duration_seconds'),
        help: 'HTTP requests by method, route and status.',
        labelNames: ['method', 'route', 'status'],
        buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers,
      }),
  );

  const tracked = new Map<string, TaskTrack>();
  const onEvent = (event: TaskEvent) => {
    const now = Date.now();
    const track = tracked.get(event.task_id);
    const previous = track?.state;
    if (!track) {
      tasks.inc({ state: event.state });
      tracked.set(event.task_id, { state: event.state, stage: event.stage, stageSince: now });
      if (tracked.size > MAX_TRACKED) tracked.delete(tracked.keys().next().value as string);
    } else {
      if (track.state !== event.state) {
        tasks.inc({ state: event.state });
        track.state = event.state;
      }
      if (track.stage !== event.stage) {
        if (track.stage) stageDuration.observe({ stage: track.stage }, (now - track.stageSince) / 1000);
        track.stage = event.stage;
        track.stageSince = now;
      }
    }
    const current = tracked.get(event.task_id);
    if (current && TERMINAL.has(event.state)) {
      if (current.stage) stageDuration.observe({ stage: current.stage }, (now - current.stageSince) / 1000);
      tracked.delete(event.task_id);
    }
    if (event.state === 'succeeded' && previous !== 'succeeded') {
      pipeline
        .getTask(event.task_id)
        .then((record) => {
          if (record?.result) bytes.inc(record.result.size);
        })
        .catch(() => undefined);
    }
  };
  const unsubscribe = pipeline.subscribe(onEvent);

  return {
    registry,
    observeRequest(labels, seconds) {
      requests.observe(
        { method: labels.method, route: labels.route, status: String(labels.status) },
        seconds,
      );
    },
    close() {
      unsubscribe();
      tracked.clear();
    },
  };
}
