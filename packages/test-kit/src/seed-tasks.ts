import { newTaskRecord, type StatusStore, type TaskRecord } from '@ncr-upload/core';

const STATES = [
  'succeeded',
  'succeeded',
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
  'running',
  'queued',
] as const;

/**
 * Fill a status store with `count` tasks in mixed states, users, campaigns and
 * workers, created one second apart (the newest now), through the store's own
 * writes so every index it keeps is built as in production. For the console's
 * index tests and benchmark.
 */
export async function seedTasks(
  store: StatusStore,
  count: number,
  options: { prefix?: string; parallel?: number } = {},
): Promise<TaskRecord[]> {
  const prefix = options.prefix ?? 'seed';
  const parallel = options.parallel ?? 100;
  const start = Date.now() - count * 1000;
  const made: TaskRecord[] = [];
  for (let from = 0; from < count; from += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - from) }, (_, offset) => from + offset);
    made.push(
      ...(await Promise.all(
        batch.map(async (index) => {
          const at = new Date(start + index * 1000).toISOString();
          const record = newTaskRecord(
            {
              job_id: `${prefix}-job-${index}`,
              username: `user-${index % 40}`,
              campaign: `campaign-${index % 7}`,
            },
            { taskId: `${prefix}-task-${index}`, at },
          );
          await store.createTask(record);
          const state = STATES[index % STATES.length] as (typeof STATES)[number];
          if (state === 'queued') return record;
          const worker = `host-${index % 3}:100${index % 3}`;
          await store.updateTask(record.task_id, {
            state: 'running',
            stage: 'fetch',
            attempts: 1 + (index % 3 === 0 ? 1 : 0),
            worker,
            started_at: at,
          });
          if (state === 'running') return record;
          return (await store.updateTask(record.task_id, {
            state,
            stage: 'cleanup',
            finished_at: new Date(start + index * 1000 + (index % 17) * 100).toISOString(),
            result:
              state === 'succeeded'
                ? {
                    remote_path: `c/u/${index}.zip`,
                    size: 1000 + ((index * 7919) % 100_000),
                    sha256: 'x',
                    files: 1,
                  }
                : null,
            error:
              state === 'succeeded' ? null : { code: 'NO_FILES', message: 'No files.', retryable: false },
          })) as TaskRecord;
        }),
      )),
    );
  }
  return made;
}
