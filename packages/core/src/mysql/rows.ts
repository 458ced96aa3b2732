import { z } from 'zod';
import { UploadError } from '../errors.js';
import type { FileRef } from '../ports/file-ref.js';

/** Which result columns hold the file's fields. */
export interface ColumnNames {
  /** The storage key (required, not empty). */
  key: string;
  /** The file name in the archive (optional). */
  name: string;
  /** Size in bytes (optional). */
  size: string;
  /** Folder inside the job's folder (optional). */
  folder: string;
}

const text = z.union([
  z.string(),
  z.instanceof(Uint8Array).transform((bytes) => Buffer.from(bytes).toString('utf8')),
  z.number().transform(String),
  z.bigint().transform(String),
]);

const size = z
  .union([
    z.number(),
    z.bigint().transform(Number),
    z.string().regex(/^\d+$/, 'not a whole number').transform(Number),
  ])
  .pipe(z.number().int('not a whole number').nonnegative('negative').max(Number.MAX_SAFE_INTEGER));

const optionalText = text
  .nullish()
  .transform((value) => (value === null || value === undefined || value.trim() === '' ? undefined : value));

function describeRow(row: Record<string, unknown>, index: number): string {
  const id = row['id'];
  return typeof id === 'number' || typeof id === 'string' || typeof id === 'bigint'
    ? `row ${index + 1} (id ${String(id)})`
    : `row ${index + 1}`;
}

function jsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** Map one result row to a FileRef; a row without a usable key or with a bad size is a CATALOG_ERROR naming it. */
export function rowToFileRef(raw: unknown, index: number, columns: ColumnNames, jobId: string): FileRef {
  const row = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const where = `${describeRow(row, index)} of the file list for job "${jobId}"`;
  const bad = (problem: string) =>
    new UploadError('CATALOG_ERROR', `The ${where} ${problem}.`, {
      stage: 'resolve',
      details: { row: index + 1, columns: Object.keys(row) },
    });

  if (!(columns.key in row))
    throw bad(`has no column "${columns.key}" (set the catalog's columns.key or alias the column)`);
  const key = text.nullish().safeParse(row[columns.key]);
  if (!key.success || !key.data || key.data.trim() === '')
    throw bad(`has an empty key (column "${columns.key}")`);

  const file: FileRef = { key: key.data };
  const name = optionalText.safeParse(row[columns.name]);
  if (!name.success) throw bad(`has an unreadable name (column "${columns.name}")`);
  if (name.data !== undefined) file.name = name.data;
  const folder = optionalText.safeParse(row[columns.folder]);
  if (!folder.success) throw bad(`has an unreadable folder (column "${columns.folder}")`);
  if (folder.data !== undefined) file.folder = folder.data;
  const sizeValue = row[columns.size];
  if (sizeValue !== null && sizeValue !== undefined) {
    const parsed = size.safeParse(sizeValue);
    if (!parsed.success)
      throw bad(`has an invalid size (column "${columns.size}": ${parsed.error.issues[0]?.message})`);
    file.size = parsed.data;
  }
  const known = new Set<string>(Object.values(columns));
  const metadata: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) {
    if (!known.has(column) && value !== undefined) metadata[column] = jsonValue(value);
  }
  if (Object.keys(metadata).length > 0) file.metadata = metadata;
  return file;
}
