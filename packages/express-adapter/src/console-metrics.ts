import { TASK_STATES, type UploadPipeline } from '@ncr-upload/core';
import { Gauge, type Registry } from 'prom-client';

/**
 * Gauges the console's alert rules use (deploy/prometheus/alerts.yml), read
 * from the status store at scrape time: workers online (heartbeat), the age of
 * the oldest waiting task, and tasks per state. A store without the console
 * capabilities leaves them unset.
 */
export function registerConsoleMetrics(
  pipeline: UploadPipeline,
  registry: Registry,
  name: (suffix: string) => string,
): void {
  const store = pipeline.statusStore;
  const registers = [registry];
  const gauge = (suffix: string, make: () => Gauge) =>
    (registry.getSingleMetric(name(suffix)) as Gauge | undefined) ?? make();
  gauge(
    'workers_online',
    () =>
      new Gauge({
        name: name('workers_online'),
        help: 'Workers whose heartbeat is within its time to live; paused ones counted under paused="true".',
        labelNames: ['paused'],
        registers,
        async collect() {
          if (!store.listWorkers) return;
          const online = (await store.listWorkers()).filter((worker) => worker.online);
          this.set({ paused: 'false' }, online.filter((worker) => !worker.paused).length);
          this.set({ paused: 'true' }, online.filter((worker) => worker.paused).length);
        },
      }),
  );
  gauge(
    'oldest_waiting_seconds',
    () =>
      new Gauge({
        name: name('oldest_waiting_seconds'),
        help: 'Age of the oldest queued task (0 when none waits).',
        registers,
        async collect() {
          if (!store.queryTasks) return;
          const oldest = await store.queryTasks({
            states: ['queued'],
            sort: 'created_at',
            order: 'asc',
            limit: 1,
          });
          const createdAt = oldest.items[0]?.created_at;
          this.set(createdAt ? Math.max(0, (Date.now() - Date.parse(createdAt)) / 1000) : 0);
        },
      }),
  );
  gauge(
    'tasks_by_state',
    () =>
      new Gauge({
        name: name('tasks_by_state'),
        help: 'Tasks the status store holds now, per state (finished ones until their retention ends).',
        labelNames: ['state'],
        registers,
        async collect() {
          if (!store.queryTasks) return;
          const states = TASK_STATES;
          const totals = await Promise.all(
            states.map((state) => store.queryTasks?.({ states: [state], limit: 0 })),
          );
          for (const [index, state] of states.entries()) this.set({ state }, totals[index]?.total ?? 0);
        },
      }),
  );
}
