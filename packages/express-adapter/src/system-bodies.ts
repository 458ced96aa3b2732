import type { PipelineHealth, PipelineStats, TaskRecord } from '@ncr-upload/core';

/** Bodies of the monitoring and health routes (routes-system.ts), in the original service's shapes. */

type Check = PipelineHealth['checks'][string];

/** The first named check the pipeline reports, so store and catalog names may vary. */
function pick(checks: PipelineHealth['checks'], names: string[]): Check | undefined {
  for (const name of names) if (checks[name]) return checks[name];
  return undefined;
}

const legacy = (check: Check | undefined, down = 'disconnected') =>
  !check || check.status === 'skipped' ? 'not_configured' : check.status === 'ok' ? 'connected' : down;
const plain = (check: Check | undefined) => check?.status ?? 'skipped';

/**
 * `/health` body: the original `redis`/`database` fields plus every check of the
 * pipeline. Without `detailed` (a caller without the API key), failed checks give
 * their error code only: messages can name hosts, ports, buckets or folders.
 */
export function healthBody(health: PipelineHealth, detailed = true) {
  const checks = detailed ? health.checks : statusesOnly(health.checks);
  const store = pick(checks, ['status_store', 'store', 'redis', 'statusStore']);
  return {
    status: health.status,
    redis: legacy(store, 'unreachable'),
    ...(store?.status === 'error'
      ? { redis_reason: (detailed ? store.message : store.code) ?? 'unreachable' }
      : {}),
    database: legacy(pick(checks, ['catalog', 'database'])),
    queue: plain(pick(checks, ['queue'])),
    storage: plain(pick(checks, ['storage'])),
    destination: plain(pick(checks, ['destination'])),
    validator: plain(pick(checks, ['validator'])),
    checks,
    timestamp: health.timestamp,
  };
}

function statusesOnly(checks: PipelineHealth['checks']): PipelineHealth['checks'] {
  return Object.fromEntries(
    Object.entries(checks).map(([name, check]) => [
      name,
      { status: check.status, ...(check.code ? { code: check.code } : {}) },
    ]),
  );
}

/** `/worker-stats` body: counts of the queue and of each worker. */
export function workerStatsBody(stats: PipelineStats) {
  return {
    active: stats.active,
    scheduled: stats.queue.delayed,
    queued: stats.queue.waiting,
    paused: stats.queue.paused,
    queues: { uploads: stats.queue.waiting + stats.queue.delayed },
    workers: stats.queue.workers ?? [
      {
        id: stats.worker_id,
        active: stats.active,
        concurrency: stats.concurrency,
        last_job_at: stats.last_job_at,
      },
    ],
    worker_id: stats.worker_id,
    consuming: stats.consuming,
    consuming_since: stats.consuming_since,
    queue_consuming: stats.queue_consuming,
    draining: stats.draining,
    concurrency: stats.concurrency,
    last_job_at: stats.last_job_at,
    timestamp: new Date().toISOString(),
  };
}

/** One task as Celery's `inspect().active()` lists it. */
function celeryTask(record: TaskRecord, hostname: string) {
  return {
    id: record.task_id,
    name: 'process_job',
    args: [],
    kwargs: record.job,
    type: 'process_job',
    hostname,
    time_start: record.started_at ? Date.parse(record.started_at) / 1000 : null,
    acknowledged: true,
    delivery_info: { exchange: '', routing_key: 'uploads', priority: 0, redelivered: record.attempts > 1 },
    worker_pid: null,
  };
}

/**
 * `/celery-stats` body in the shapes of Celery's `inspect()`: `active`, `scheduled`
 * (tasks waiting for a retry), `reserved` and `stats`, each keyed by worker name.
 * The counts are at `/worker-stats`.
 */
export function celeryStatsBody(stats: PipelineStats, activeTasks: readonly TaskRecord[]) {
  const workers = stats.queue.workers ?? [
    {
      id: stats.worker_id,
      active: stats.active,
      concurrency: stats.concurrency,
      last_job_at: stats.last_job_at,
    },
  ];
  const perWorker = <T>(make: () => T) => Object.fromEntries(workers.map((worker) => [worker.id, make()]));
  const active = perWorker((): ReturnType<typeof celeryTask>[] => []);
  const scheduled = perWorker(
    (): { eta: null; priority: number; request: ReturnType<typeof celeryTask> }[] => [],
  );
  for (const record of activeTasks) {
    const hostname = record.worker ?? stats.worker_id;
    const task = celeryTask(record, hostname);
    if (record.state === 'running') active[hostname] = [...(active[hostname] ?? []), task];
    else if (record.state === 'retrying')
      scheduled[hostname] = [...(scheduled[hostname] ?? []), { eta: null, priority: 0, request: task }];
  }
  return {
    active,
    scheduled,
    reserved: perWorker((): never[] => []),
    stats: Object.fromEntries(
      workers.map((worker) => [
        worker.id,
        {
          pool: { 'max-concurrency': worker.concurrency },
          active: worker.active,
          last_job_at: worker.last_job_at,
        },
      ]),
    ),
    timestamp: new Date().toISOString(),
  };
}
