import { UploadError } from '../errors.js';
import { TASK_STATES, type TaskRecord } from '../job.js';
import {
  MAX_TASK_PAGE,
  TASK_SORT_FIELDS,
  type TaskQuery,
  type TaskSortField,
} from '../ports/task-insights.js';

/** A query with every default applied. */
export interface NormalizedTaskQuery {
  states: TaskRecord['state'][];
  worker: string | null;
  from: number | null;
  to: number | null;
  /** Lower-cased search prefix, or null. */
  search: string | null;
  sort: TaskSortField;
  order: 'asc' | 'desc';
  offset: number;
  limit: number;
}

/** Apply defaults and clamp bounds; an unknown sort column or state throws `INVALID_JOB` (a 400 over HTTP). */
export function normalizeTaskQuery(query: TaskQuery = {}): NormalizedTaskQuery {
  const sort = query.sort ?? 'created_at';
  if (!TASK_SORT_FIELDS.includes(sort)) {
    throw new UploadError(
      'INVALID_JOB',
      `Invalid task query: sort must be one of ${TASK_SORT_FIELDS.join(', ')}.`,
    );
  }
  const states = [...new Set(query.states ?? [])];
  for (const state of states) {
    if (!TASK_STATES.includes(state)) {
      throw new UploadError(
        'INVALID_JOB',
        `Invalid task query: state must be one of ${TASK_STATES.join(', ')}.`,
      );
    }
  }
  const offset = Math.max(0, Math.floor(query.offset ?? 0));
  const limit = Math.min(MAX_TASK_PAGE, Math.max(0, Math.floor(query.limit ?? 50)));
  const search = query.search?.trim().toLowerCase();
  return {
    states,
    worker: query.worker ?? null,
    from: query.from ?? null,
    to: query.to ?? null,
    search: search ? search : null,
    sort,
    order: query.order ?? 'desc',
    offset,
    limit,
  };
}

const ms = (iso: string | null | undefined) => {
  if (!iso) return 0;
  const value = Date.parse(iso);
  return Number.isFinite(value) ? value : 0;
};

/** A number that sorts like the first 6 characters of `text` (lower-cased code units, capped at 255). */
export function textScore(text: string | null | undefined): number {
  const value = (text ?? '').toLowerCase();
  let score = 0;
  for (let index = 0; index < 6; index += 1) {
    const code = index < value.length ? Math.min(255, value.charCodeAt(index) + 1) : 0;
    score = score * 256 + code;
  }
  return score;
}

const STATE_ORDER = Object.fromEntries(TASK_STATES.map((state, index) => [state, index]));
/** Weight of the primary value in combined scores; created time (ms, < 2^43) breaks ties below it. */
const TIE = 2 ** 43;

/** The sort score of a record for every sortable column. Shared by the stores so they order alike. */
export function sortScores(record: TaskRecord): Record<TaskSortField, number> {
  const created = ms(record.created_at);
  const started = ms(record.started_at);
  const finished = ms(record.finished_at);
  return {
    created_at: created,
    started_at: started,
    finished_at: finished,
    duration: started > 0 && finished >= started ? finished - started : 0,
    attempts: Math.min(record.attempts, 1000) * TIE + created,
    size: record.result?.size ?? 0,
    state: (STATE_ORDER[record.state] ?? 0) * TIE + created,
    job_id: textScore(record.job_id),
    username: textScore(record.job.username),
    campaign: textScore(record.job.campaign),
    worker: textScore(record.worker),
  };
}

/** Lower-cased values the search prefix is matched against. */
export const searchValues = (record: TaskRecord): string[] => [
  ...new Set([record.job_id, record.job.username, record.job.campaign].map((value) => value.toLowerCase())),
];

/** True when the record matches every filter of the query (the memory store's path; Redis uses indexes). */
export function matchesTaskQuery(record: TaskRecord, query: NormalizedTaskQuery): boolean {
  if (query.states.length > 0 && !query.states.includes(record.state)) return false;
  if (query.worker !== null && record.worker !== query.worker) return false;
  const created = ms(record.created_at);
  if (query.from !== null && created < query.from) return false;
  if (query.to !== null && created > query.to) return false;
  const search = query.search;
  if (search !== null && !searchValues(record).some((value) => value.startsWith(search))) return false;
  return true;
}

/** Compare two records by the query's sort column and order; ties go by task id, as in a Redis sorted set. */
export function compareForQuery(query: NormalizedTaskQuery) {
  const direction = query.order === 'asc' ? 1 : -1;
  return (a: { record: TaskRecord; scores: Record<TaskSortField, number> }, b: typeof a) => {
    const difference = a.scores[query.sort] - b.scores[query.sort];
    if (difference !== 0) return difference * direction;
    return (
      (a.record.task_id < b.record.task_id ? -1 : a.record.task_id > b.record.task_id ? 1 : 0) * direction
    );
  };
}
