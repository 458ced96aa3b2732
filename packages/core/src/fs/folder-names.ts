import { isAbsolute, relative, sep } from 'node:path';
import { UploadError } from '../errors.js';

/** Segments of `key` as written (no NFC), for opening names stored decomposed on disk. */
export function rawSegments(key: string): string[] {
  return key
    .replace(/\\/g, '/')
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.');
}

export function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** A name read from disk as bytes, decoded only when it is valid UTF-8. */
export function decodeName(raw: Buffer): string | undefined {
  const name = raw.toString('utf8');
  return Buffer.from(name, 'utf8').equals(raw) ? name : undefined;
}

export function notUtf8(folder: string, raw: Buffer): UploadError {
  const shown = raw.toString('utf8');
  return new UploadError(
    'UNSAFE_PATH',
    `A name in ${JSON.stringify(folder === '' ? '.' : folder)} is not valid UTF-8 (${JSON.stringify(shown)}, bytes ${raw.toString('hex')}); rename it to UTF-8 (for example with convmv) so the job can include it.`,
    { stage: 'resolve', details: { folder, name: shown } },
  );
}

export function linked(key: string, stage: 'resolve' | 'fetch', outside: boolean): UploadError {
  return new UploadError(
    'UNSAFE_PATH',
    outside
      ? `File ${JSON.stringify(key)} is a link to a place outside the storage folder.`
      : `${JSON.stringify(key)} goes through a symbolic link; campaign, user and job folders and their files must be real folders and files (a link could read another job's files).`,
    { stage, details: { key } },
  );
}

/** Order keys the way S3 lists them (by UTF-8 bytes). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
