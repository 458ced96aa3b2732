import { UploadError } from '../errors.js';

/** The parameters `listFilesSql` may use. */
export const JOB_PLACEHOLDERS = ['job_id', 'row_id', 'username', 'campaign'] as const;
/** The parameters `reportResultSql` may use, on top of the job's. */
export const REPORT_PLACEHOLDERS = [
  ...JOB_PLACEHOLDERS,
  'task_id',
  'state',
  'remote_path',
  'sha256',
  'size',
  'files',
  'error_code',
  'error_message',
] as const;

const PARAMETER = /\?|:(\d+|[a-zA-Z][a-zA-Z0-9_]*)/g;

/**
 * The placeholders in `sql` as mysql2's named-placeholder compiler sees them:
 * `:name` and `?` outside single- or double-quoted strings.
 */
export function findPlaceholders(sql: string): { named: string[]; positional: number } {
  const named: string[] = [];
  let positional = 0;
  let quote: number | null = null;
  let escaped = false;
  let scanned = 0;
  for (const match of sql.matchAll(PARAMETER)) {
    for (let index = scanned; index < match.index; index += 1) {
      const char = sql.charCodeAt(index);
      if (char === 92 /* \ */) {
        escaped = !escaped;
        continue;
      }
      if (escaped) {
        escaped = false;
        continue;
      }
      if (quote !== null && char === quote) {
        if (sql.charCodeAt(index + 1) === quote) index += 1;
        else quote = null;
      } else if (quote === null && (char === 34 || char === 39)) {
        quote = char;
      }
    }
    scanned = match.index + match[0].length;
    if (quote !== null) continue;
    if (match[1] === undefined) positional += 1;
    else named.push(match[1]);
  }
  return { named, positional };
}

/** Throw CONFIG_INVALID when `sql` uses a placeholder outside `allowed`, or a `?`. */
export function checkPlaceholders(option: string, sql: string, allowed: readonly string[]): void {
  const { named, positional } = findPlaceholders(sql);
  const unknown = [...new Set(named.filter((name) => !allowed.includes(name)))];
  if (unknown.length > 0) {
    throw new UploadError(
      'CONFIG_INVALID',
      `${option} uses unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((name) => `:${name}`).join(', ')}; allowed: ${allowed.map((name) => `:${name}`).join(', ')}.`,
      { details: { option, unknown } },
    );
  }
  if (positional > 0) {
    throw new UploadError(
      'CONFIG_INVALID',
      `${option} uses "?" placeholders; use named ones instead (${allowed.map((name) => `:${name}`).join(', ')}).`,
      { details: { option } },
    );
  }
}
