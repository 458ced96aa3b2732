import type { TaskFilter, TaskRecord } from '@ncr-upload/core';
import type { RedisClient } from './redis-client.js';
import { decodeTask } from './task-hash.js';

/** Where task records are read: the client and the key of a task's hash. */
export interface TaskReader {
  client: RedisClient;
  taskKey: (id: string) => string;
}

async function readTasks(reader: TaskReader, ids: string[]): Promise<(TaskRecord | null)[]> {
  if (ids.length === 0) return [];
  const pipeline = reader.client.pipeline();
  for (const id of ids) pipeline.hgetall(reader.taskKey(id));
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return decodeTask(value as Record<string, string>);
  });
}

/**
 * Page through one index, drop ids whose task is gone, filter the rest. Pages
 * follow the score (creation time), not the rank: tasks added, finished or
 * swept between two pages shift ranks, so rank offsets would skip or repeat.
 */
export async function scanIndex(
  reader: TaskReader,
  key: string,
  matches: (record: TaskRecord) => boolean,
  limit: number,
  newestFirst: boolean,
): Promise<TaskRecord[]> {
  const found: TaskRecord[] = [];
  const page = Number.isFinite(limit) ? Math.max(Math.min(limit, 500), 50) : 500;
  let bound = newestFirst ? '+inf' : '-inf';
  /** Ids already read whose score equals `bound` (the next page starts at `bound` inclusive). */
  let atBound = new Set<string>();
  for (;;) {
    const wanted = page + atBound.size;
    const raw = newestFirst
      ? await reader.client.zrevrangebyscore(key, bound, '-inf', 'WITHSCORES', 'LIMIT', 0, wanted)
      : await reader.client.zrangebyscore(key, bound, '+inf', 'WITHSCORES', 'LIMIT', 0, wanted);
    const ids: string[] = [];
    const scores: string[] = [];
    for (let index = 0; index < raw.length; index += 2) {
      const id = raw[index] as string;
      if (atBound.has(id)) continue;
      ids.push(id);
      scores.push(raw[index + 1] as string);
    }
    if (ids.length === 0) break;
    const records = await readTasks(reader, ids);
    const gone: string[] = [];
    records.forEach((record, index) => {
      if (!record) gone.push(ids[index] as string);
      else if (found.length < limit && matches(record)) found.push(record);
    });
    if (gone.length > 0) await reader.client.zrem(key, ...gone);
    if (found.length >= limit || raw.length / 2 < wanted) break;
    const last = scores[scores.length - 1] as string;
    if (last !== bound) atBound = new Set();
    ids.forEach((id, index) => {
      if (scores[index] === last) atBound.add(id);
    });
    bound = last;
  }
  return found;
}

/** The index a filter reads (the narrowest one it names) and the check of each record found there. */
export function filterIndex(
  p: string,
  filter: TaskFilter,
): { key: string; matches: (record: TaskRecord) => boolean } {
  const key =
    filter.job_id !== undefined
      ? `${p}:idx:job:${filter.job_id}`
      : filter.username !== undefined
        ? `${p}:idx:username:${filter.username}`
        : filter.campaign !== undefined
          ? `${p}:idx:campaign:${filter.campaign}`
          : filter.state !== undefined
            ? `${p}:idx:state:${filter.state}`
            : `${p}:tasks`;
  const matches = (record: TaskRecord) =>
    (filter.job_id === undefined || record.job_id === filter.job_id) &&
    (filter.username === undefined || record.job.username === filter.username) &&
    (filter.campaign === undefined || record.job.campaign === filter.campaign) &&
    (filter.state === undefined || record.state === filter.state);
  return { key, matches };
}
