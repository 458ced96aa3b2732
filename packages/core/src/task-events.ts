import type { TaskRecord } from './job.js';
import type { StatusStore, TaskEvent } from './ports/status-store.js';

/** The small event a status store publishes for a task change. */
export function toTaskEvent(type: TaskEvent['type'], record: TaskRecord): TaskEvent {
  return {
    type,
    task_id: record.task_id,
    job_id: record.job_id,
    batch_id: record.batch_id,
    state: record.state,
    stage: record.stage,
    progress: { ...record.progress },
    error_code: record.error?.code ?? null,
    at: record.updated_at,
  };
}

/** Call every listener; one that throws or rejects never breaks the others or the store. */
export function notifyListeners(listeners: Iterable<(event: TaskEvent) => void>, event: TaskEvent): void {
  for (const listener of [...listeners]) {
    try {
      const returned: unknown = listener(event);
      if (returned instanceof Promise) returned.catch(() => undefined);
    } catch {
      // A broken listener must not break the store or the other listeners.
    }
  }
}

/**
 * A store with `subscribe`: the store itself when it has live events, else a
 * wrapper that emits events for the writes made through it (this process only).
 */
export function withLocalEvents(store: StatusStore): StatusStore & Required<Pick<StatusStore, 'subscribe'>> {
  if (store.subscribe) return store as StatusStore & Required<Pick<StatusStore, 'subscribe'>>;
  const listeners = new Set<(event: TaskEvent) => void>();
  return {
    ...store,
    createTask: async (record) => {
      const result = await store.createTask(record);
      if (result.created) notifyListeners(listeners, toTaskEvent('task.created', result.record));
      return result;
    },
    getTask: (taskId) => store.getTask(taskId),
    updateTask: async (taskId, patch) => {
      const record = await store.updateTask(taskId, patch);
      if (record) notifyListeners(listeners, toTaskEvent('task.updated', record));
      return record;
    },
    findActiveByJob: (job) => store.findActiveByJob(job),
    listActive: () => store.listActive(),
    listTasks: (filter) => store.listTasks(filter),
    createBatch: (batch) => store.createBatch(batch),
    getBatch: (batchId) => store.getBatch(batchId),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ...(store.ping ? { ping: () => (store.ping as () => Promise<void>)() } : {}),
    ...(store.close ? { close: () => (store.close as () => Promise<void>)() } : {}),
  };
}

/** Resolves on the store's next task event, after `ms`, or when `signal` aborts, whichever comes first. */
export function nextEvent(
  store: Required<Pick<StatusStore, 'subscribe'>>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((done) => {
    let unsubscribe: () => void = () => {};
    const finish = () => {
      clearTimeout(timer);
      unsubscribe();
      signal?.removeEventListener('abort', finish);
      done();
    };
    const timer = setTimeout(finish, ms);
    unsubscribe = store.subscribe(finish);
    signal?.addEventListener('abort', finish, { once: true });
  });
}
