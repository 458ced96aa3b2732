import type { JobRequest, TaskPatch, TaskRecord } from '@ncr-upload/core';

/**
 * How a task record is kept in its Redis hash (`<prefix>:task:<task_id>`):
 * one hash field per record field, so an update writes only the fields it
 * changes (HSET) and a reader can take a single field (HGET state).
 *
 * - strings as they are (`state`, `job_id`, `created_at`, ...);
 * - integers in decimal (`attempts`, `max_attempts`);
 * - `cancel_requested` as `1` or `0`;
 * - objects as JSON (`job`, `progress`, `error`, `result`);
 * - a null value is an absent field (HDEL), whatever its kind.
 *
 * Fields starting with `_` belong to the store (index keys, sort score) and
 * are never part of a record.
 */
type Kind = 'string' | 'int' | 'bool' | 'json';

const FIELDS: Record<keyof TaskRecord, Kind> = {
  task_id: 'string',
  job_id: 'string',
  job: 'json',
  state: 'string',
  stage: 'string',
  progress: 'json',
  attempts: 'int',
  max_attempts: 'int',
  batch_id: 'string',
  error: 'json',
  result: 'json',
  cancel_requested: 'bool',
  worker: 'string',
  created_at: 'string',
  updated_at: 'string',
  started_at: 'string',
  finished_at: 'string',
  stages: 'json',
};

const NAMES = Object.keys(FIELDS) as (keyof TaskRecord)[];
/** Record fields that may be absent (not null) in a record. */
const OPTIONAL: ReadonlySet<keyof TaskRecord> = new Set(['stages']);

function encodeValue(kind: Kind, value: unknown): string {
  switch (kind) {
    case 'json':
      return JSON.stringify(value);
    case 'bool':
      return value ? '1' : '0';
    default:
      return String(value);
  }
}

/** The HSET pairs and the HDEL names for a patch (or a whole record). `updated_at` is left to the caller. */
export function encodeFields(patch: TaskPatch | TaskRecord): { set: string[]; remove: string[] } {
  const set: string[] = [];
  const remove: string[] = [];
  for (const name of NAMES) {
    if (name === 'updated_at' || !(name in patch)) continue;
    const value = (patch as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (value === null) remove.push(name);
    else set.push(name, encodeValue(FIELDS[name], value));
  }
  return { set, remove };
}

/** A record from HGETALL's reply (a flat [field, value, ...] array or an object); null when it holds no task. */
export function decodeTask(reply: string[] | Record<string, string>): TaskRecord | null {
  let hash: Record<string, string>;
  if (Array.isArray(reply)) {
    hash = {};
    for (let index = 0; index + 1 < reply.length; index += 2) {
      hash[reply[index] as string] = reply[index + 1] as string;
    }
  } else hash = reply;
  if (hash.task_id === undefined || hash.job === undefined) return null;
  const record: Record<string, unknown> = {};
  for (const name of NAMES) {
    const raw = hash[name];
    if (raw === undefined) {
      // An optional field is left out; the others read null.
      if (!OPTIONAL.has(name)) record[name] = null;
      continue;
    }
    const kind = FIELDS[name];
    record[name] =
      kind === 'json' ? JSON.parse(raw) : kind === 'int' ? Number(raw) : kind === 'bool' ? raw === '1' : raw;
  }
  return record as TaskRecord;
}

/** The key that makes a submission idempotent: one active task per (campaign, username, job_id). */
export function activeJobKey(
  prefix: string,
  job: Pick<JobRequest, 'campaign' | 'username' | 'job_id'>,
): string {
  return `${prefix}:job:${JSON.stringify([job.campaign, job.username, job.job_id])}`;
}
