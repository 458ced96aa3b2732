import { UploadError } from './errors.js';

/**
 * Path safety. Every path that comes from a catalog, a storage key or an
 * `organize` function passes through `safeRelativePath` before it touches the
 * disk, the zip or the destination, so nothing lands outside the task's folder
 * or the zip root.
 *
 * Rules: Unicode NFC; `\` is a separator; empty, `.` segments are dropped; `..`,
 * absolute paths (`/x`, `C:`, `\\server`), NUL and other control characters are
 * refused (as are bidirectional override characters); trailing dots and spaces on a segment (Windows strips them) are
 * refused; each segment at most 255 bytes; the whole path at most 1024 bytes.
 */

// C0 controls, DEL, C1 controls and the bidirectional overrides that make a name display as another.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** A UTF-16 surrogate without its pair: it cannot be encoded and becomes U+FFFD on disk. */
const LONE_SURROGATE = /\p{Cs}/u;
const DRIVE = /^[a-zA-Z]:/;
const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 1024;

function unsafe(message: string, input: string): UploadError {
  return new UploadError(
    'UNSAFE_PATH',
    `${message}: ${JSON.stringify(input.slice(0, 200))}. Rename the file or fix the catalog.`,
    {
      stage: 'layout',
      details: { path: input.slice(0, 200) },
    },
  );
}

/** Printable ASCII only: no control character, no surrogate, already NFC, one byte per character. */
const PLAIN_ASCII = /^[\x20-\x7e]+$/;

/** Normalise `input` to a safe relative `/` path, or throw `UNSAFE_PATH`. */
export function safeRelativePath(input: string): string {
  if (typeof input !== 'string' || input.length === 0) throw unsafe('Empty path', String(input));
  // The common case (a plain ASCII key) skips the Unicode checks and byte counts, which cannot fail for it.
  const plain = PLAIN_ASCII.test(input);
  if (!plain) {
    if (input.includes('\0')) throw unsafe('Path contains NUL', input.replace(/\0/g, '\\0'));
    if (CONTROL.test(input)) throw unsafe('Path contains a control character', input);
    if (LONE_SURROGATE.test(input)) throw unsafe('Path is not valid Unicode (lone surrogate)', input);
  }
  const normalised = (plain ? input : input.normalize('NFC')).replace(/\\/g, '/');
  if (normalised.startsWith('/')) throw unsafe('Absolute path', input);
  if (DRIVE.test(normalised)) throw unsafe('Path with a drive letter', input);
  const segments: string[] = [];
  for (const segment of normalised.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw unsafe('Path climbs out of its folder (..)', input);
    if (/[. ]$/.test(segment)) throw unsafe('Path segment ends with a dot or space', input);
    if ((plain ? segment.length : Buffer.byteLength(segment)) > MAX_SEGMENT_BYTES)
      throw unsafe('Path segment longer than 255 bytes', input);
    segments.push(segment);
  }
  if (segments.length === 0) throw unsafe('Path has no name', input);
  const result = segments.join('/');
  if ((plain ? result.length : Buffer.byteLength(result)) > MAX_PATH_BYTES)
    throw unsafe('Path longer than 1024 bytes', input);
  return result;
}

/** A single safe path segment (a file or folder name): `safeRelativePath` with no `/` allowed. */
export function safeSegment(input: string): string {
  const path = safeRelativePath(input);
  if (path.includes('/')) throw unsafe('Name contains a path separator', input);
  return path;
}

/**
 * Refuse two entries that would land on the same path, comparing case-folded
 * NFC forms (case-insensitive file systems and zip tools would collide too).
 */
export function assertUniquePaths(paths: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const key = path.normalize('NFC').toLowerCase();
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new UploadError(
        'DUPLICATE_PATH',
        `Two files would land on the same path: ${JSON.stringify(previous)} and ${JSON.stringify(path)}. Give them distinct names.`,
        { stage: 'layout', details: { paths: [previous, path] } },
      );
    }
    seen.set(key, path);
  }
  // A file cannot also be a folder: "a" and "a/b" collide on disk and when unzipped.
  for (const path of paths) {
    const segments = path.normalize('NFC').toLowerCase().split('/');
    for (let end = 1; end < segments.length; end += 1) {
      const file = seen.get(segments.slice(0, end).join('/'));
      if (file !== undefined) {
        throw new UploadError(
          'DUPLICATE_PATH',
          `${JSON.stringify(file)} is a file but ${JSON.stringify(path)} needs a folder of that name. Give them distinct names.`,
          { stage: 'layout', details: { paths: [file, path] } },
        );
      }
    }
  }
}

/** The last `/`-separated segment of a key. */
export function baseName(key: string): string {
  const parts = key.replace(/\\/g, '/').split('/').filter(Boolean);
  return parts[parts.length - 1] ?? key;
}
