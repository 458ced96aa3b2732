import { describe, expect, it } from 'vitest';
import { isUploadError } from '../src/errors.js';
import { createMemoryStatusStore } from '../src/memory-status-store.js';
import type { TaskEvent } from '../src/ports/status-store.js';
import { makeJob, makeTask } from '../src/testing/helpers.js';
import { testStatusStore } from '../src/testing/status-store-contract.js';

testStatusStore({
  name: 'memory',
  create: async () => createMemoryStatusStore(),
  insights: true,
  startAttempt: true,
});

const DAY = 86_400_000;

function clock(start = Date.UTC(2024, 0, 1)) {
  let current = start;
  return {
    now: () => new Date(current),
    advance: (ms: number) => {
      current += ms;
    },
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isUploadError(error) ? error.code : `not an UploadError: ${String(error)}`;
  }
  return undefined;
}

describe('createMemoryStatusStore', () => {
  it('purges finished tasks once older than the retention, never active ones', async () => {
    const time = clock();
    const store = createMemoryStatusStore({ retentionMs: DAY, now: time.now });
    const finished = makeTask();
    const active = makeTask();
    await store.createTask(finished);
    await store.createTask(active);
    await store.updateTask(finished.task_id, { state: 'succeeded', finished_at: time.now().toISOString() });

    time.advance(DAY - 1);
    await store.createTask(makeTask());
    expect(await store.getTask(finished.task_id)).not.toBeNull();

    time.advance(2);
    await store.createTask(makeTask());
    expect(await store.getTask(finished.task_id)).toBeNull();
    expect(await store.listTasks({ job_id: finished.job_id })).toEqual([]);
    expect((await store.getTask(active.task_id))?.state).toBe('queued');
  });

  it('counts retention from the latest finish of a task that ran again', async () => {
    const time = clock();
    const store = createMemoryStatusStore({ retentionMs: 1000, now: time.now });
    const task = makeTask();
    await store.createTask(task);
    await store.updateTask(task.task_id, { state: 'failed' });
    time.advance(900);
    await store.updateTask(task.task_id, { state: 'queued' });
    await store.updateTask(task.task_id, { state: 'succeeded' });
    time.advance(900);
    await store.createTask(makeTask());
    expect((await store.getTask(task.task_id))?.state).toBe('succeeded');
    time.advance(200);
    await store.createTask(makeTask());
    expect(await store.getTask(task.task_id)).toBeNull();
  });

  it('keeps the tasks of a batch until all of them have expired, then drops the batch', async () => {
    const time = clock();
    const store = createMemoryStatusStore({ retentionMs: 1000, now: time.now });
    const tasks = [makeTask({ batch_id: 'batch-1' }), makeTask({ batch_id: 'batch-1' })];
    for (const task of tasks) await store.createTask(task);
    await store.createBatch({
      batch_id: 'batch-1',
      task_ids: tasks.map((task) => task.task_id),
      created_at: 'x',
    });
    await store.updateTask(tasks[0]!.task_id, { state: 'succeeded' });
    time.advance(600);
    await store.updateTask(tasks[1]!.task_id, { state: 'failed' });
    time.advance(600);
    await store.createTask(makeTask());
    expect(await store.getTask(tasks[0]!.task_id)).not.toBeNull();
    expect((await store.getBatch('batch-1'))?.done).toBe(true);
    time.advance(600);
    await store.createTask(makeTask());
    expect(await store.getTask(tasks[0]!.task_id)).toBeNull();
    expect(await store.getTask(tasks[1]!.task_id)).toBeNull();
    expect(await store.getBatch('batch-1')).toBeNull();
  });

  it('bumps updated_at from its clock and never moves it backwards', async () => {
    const time = clock();
    const store = createMemoryStatusStore({ now: time.now });
    const task = makeTask({ created_at: time.now().toISOString(), updated_at: time.now().toISOString() });
    await store.createTask(task);
    time.advance(5000);
    const later = await store.updateTask(task.task_id, { stage: 'fetch' });
    expect(later?.updated_at).toBe(time.now().toISOString());
    time.advance(-60_000);
    const earlier = await store.updateTask(task.task_id, { stage: 'archive' });
    expect(earlier?.updated_at).toBe(later?.updated_at);
  });

  it('ignores patch fields that identify the task', async () => {
    const store = createMemoryStatusStore();
    const task = makeTask();
    await store.createTask(task);
    const patch = {
      task_id: 'other',
      job_id: 'other',
      job: makeJob(),
      created_at: 'other',
      batch_id: 'other',
    };
    const updated = await store.updateTask(task.task_id, patch as never);
    expect(updated).toMatchObject({
      task_id: task.task_id,
      job_id: task.job_id,
      job: task.job,
      batch_id: null,
    });
    expect(updated?.created_at).toBe(task.created_at);
  });

  it('refuses a second task with the same task_id and a batch over unknown tasks', async () => {
    const store = createMemoryStatusStore();
    const task = makeTask();
    await store.createTask(task);
    await store.updateTask(task.task_id, { state: 'succeeded' });
    expect(await codeOf(store.createTask({ ...task, state: 'queued' }))).toBe('INVALID_STATE');
    expect(
      await codeOf(
        store.createBatch({ batch_id: 'b', task_ids: [task.task_id, 'unknown'], created_at: 'x' }),
      ),
    ).toBe('NOT_FOUND');
    expect(await store.getBatch('b')).toBeNull();
  });

  it('keeps working when listeners throw or reject, and stops emitting after close', async () => {
    const store = createMemoryStatusStore();
    const events: TaskEvent[] = [];
    store.subscribe!(() => {
      throw new Error('sync failure');
    });
    store.subscribe!((async () => {
      throw new Error('async failure');
    }) as unknown as (event: TaskEvent) => void);
    store.subscribe!((event) => events.push(event));
    const task = makeTask();
    await store.createTask(task);
    await store.updateTask(task.task_id, { state: 'running' });
    expect(events.map((event) => event.type)).toEqual(['task.created', 'task.updated']);
    await store.close!();
    await store.updateTask(task.task_id, { state: 'succeeded' });
    expect(events).toHaveLength(2);
  });

  it('does not emit when createTask returns an existing task', async () => {
    const store = createMemoryStatusStore();
    const events: TaskEvent[] = [];
    store.subscribe!((event) => events.push(event));
    const task = makeTask();
    await store.createTask(task);
    await store.createTask(makeTask({ job: task.job }));
    expect(events).toHaveLength(1);
  });

  it('rejects a negative retention', () => {
    expect(() => createMemoryStatusStore({ retentionMs: -1 })).toThrow(/retentionMs/);
  });
});
