import { expect, it } from 'vitest';
import type { StatusStore, TaskEvent } from '../ports/status-store.js';
import { makeTask, uniqueId, waitFor } from './helpers.js';

/** The tests of `StatusStore.startAttempt`, inside the status store contract (`startAttempt: true`). */
export function testStartAttemptSection(
  withStore: (body: (store: StatusStore) => Promise<void>) => Promise<void>,
): void {
  const startOf = (store: StatusStore) => {
    const start = store.startAttempt?.bind(store);
    expect(start, 'the store has no startAttempt()').toBeTypeOf('function');
    return start as NonNullable<StatusStore['startAttempt']>;
  };

  it('startAttempt() marks a queued task running for its next attempt, once per worker', () =>
    withStore(async (store) => {
      const start = startOf(store);
      const task = makeTask();
      await store.createTask(task);
      const events: TaskEvent[] = [];
      const stop = store.subscribe?.((event) => {
        if (event.task_id === task.task_id) events.push(event);
      });
      const first = await start(task.task_id, { worker: 'worker-a' });
      expect(first?.started).toBe(true);
      expect(first?.record).toMatchObject({
        state: 'running',
        stage: 'resolve',
        attempts: 1,
        worker: 'worker-a',
      });
      expect(first?.record.started_at).not.toBeNull();
      expect(first?.record.error).toBeNull();
      // Repeated by the same worker (a lost reply): nothing starts twice.
      const again = await start(task.task_id, { worker: 'worker-a' });
      expect(again).toEqual({ record: first?.record, started: true });
      // Another worker takes over a task whose worker died: the next attempt, started_at kept.
      const other = await start(task.task_id, { worker: 'worker-b' });
      expect(other?.record).toMatchObject({ state: 'running', attempts: 2, worker: 'worker-b' });
      expect(other?.record.started_at).toBe(first?.record.started_at);
      expect(await store.getTask(task.task_id)).toEqual(other?.record);
      if (stop) {
        await waitFor(() => events.length >= 2, { message: 'expected an event per started attempt' });
        stop();
        expect(events.map((event) => [event.state, event.stage])).toEqual([
          ['running', 'resolve'],
          ['running', 'resolve'],
        ]);
      }
    }));

  it('startAttempt() starts nothing for an ended task, a requested stop or an unknown id', () =>
    withStore(async (store) => {
      const start = startOf(store);
      expect(await start(uniqueId('missing'), { worker: 'w' })).toBeNull();
      const ended = makeTask();
      await store.createTask(ended);
      await store.updateTask(ended.task_id, { state: 'succeeded', finished_at: new Date().toISOString() });
      const afterEnd = await start(ended.task_id, { worker: 'w' });
      expect(afterEnd?.started).toBe(false);
      expect(afterEnd?.record.state).toBe('succeeded');
      const stopped = makeTask();
      await store.createTask(stopped);
      await store.updateTask(stopped.task_id, { cancel_requested: true });
      const afterStop = await start(stopped.task_id, { worker: 'w' });
      expect(afterStop?.started).toBe(false);
      expect(afterStop?.record).toMatchObject({ state: 'queued', attempts: 0, cancel_requested: true });
    }));
}
