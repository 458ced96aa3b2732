import { extname } from 'node:path';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';

/**
 * Check a zip file: it opens, every entry's bytes match its CRC-32 and size,
 * every name is a safe relative path, it holds at least one file, and (when
 * `allowedExtensions` is given) every file has one of those extensions.
 * @param {string} path
 * @param {{ allowedExtensions?: string[] }} [options]
 * @returns {Promise<{ errors: {message: string, code: string, path?: string}[], files: number, truncated: boolean }>}
 */
export async function checkZip(path, options = {}) {
  const allowed = options.allowedExtensions?.map((extension) => normalizeExtension(extension));
  // A zip of many bad entries must still get a small answer: keep the first MAX_ERRORS.
  const found = [];
  let truncated = false;
  const errors = {
    push(error) {
      if (found.length < MAX_ERRORS) found.push(error);
      else truncated = true;
    },
    get length() {
      return found.length;
    },
  };
  const seen = new Set();
  let zip;
  try {
    zip = await new Promise((resolve, reject) =>
      yauzl.open(path, { lazyEntries: true, autoClose: false, strictFileNames: false }, (error, file) =>
        error ? reject(error) : resolve(file),
      ),
    );
  } catch (error) {
    return {
      errors: [{ message: `not a readable zip: ${error.message}`, code: 'NOT_A_ZIP' }],
      files: 0,
      truncated: false,
    };
  }
  let files = 0;
  try {
    await new Promise((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry) => {
        checkEntry(zip, entry, allowed, errors, seen)
          .then((isFile) => {
            if (isFile) files += 1;
            zip.readEntry();
          })
          .catch(reject);
      });
      zip.readEntry();
    });
  } catch (error) {
    const unsafe = /invalid relative path|absolute path|invalid characters in fileName/i.test(error.message);
    errors.push(
      unsafe
        ? { message: `unsafe entry name: ${error.message}`, code: 'UNSAFE_NAME' }
        : { message: `the zip is damaged: ${error.message}`, code: 'CORRUPT_ZIP' },
    );
  } finally {
    zip.close();
  }
  if (files === 0 && errors.length === 0)
    errors.push({ message: 'the zip holds no files', code: 'EMPTY_ZIP' });
  return { errors: found, files, truncated };
}

/** At most this many errors are listed; `truncated` says when more were found. */
export const MAX_ERRORS = 100;

function normalizeExtension(extension) {
  const trimmed = extension.trim().toLowerCase();
  return trimmed.startsWith('.') ? trimmed : `.${trimmed}`;
}

/** An unsafe name: absolute, a drive letter, a backslash, a `..` or empty segment, a control character. */
export function unsafeNameReason(name) {
  if (name.length === 0) return 'empty name';
  if ([...name].some((char) => char.charCodeAt(0) < 0x20)) return 'control character in name';
  if (name.includes('\\')) return 'backslash in name';
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return 'absolute path';
  const segments = name.replace(/\/$/, '').split('/');
  if (segments.some((segment) => segment === '..')) return '".." in path';
  if (segments.some((segment) => segment === '' || segment === '.')) return 'empty or "." segment';
  return null;
}

async function checkEntry(zip, entry, allowed, errors, seen) {
  const name = entry.fileName;
  const unsafe = unsafeNameReason(name);
  if (unsafe) {
    errors.push({ message: `unsafe entry name (${unsafe})`, code: 'UNSAFE_NAME', path: name });
    return false;
  }
  // Unzipping two entries with one name (ignoring case) keeps only one of them.
  const key = name.normalize('NFC').toLowerCase();
  if (seen.has(key)) {
    errors.push({ message: 'the name appears twice in the zip', code: 'DUPLICATE_NAME', path: name });
    return false;
  }
  seen.add(key);
  if (name.endsWith('/')) return false;
  // Unix file type bits in the high half of the external attributes: a link can point anywhere.
  if (((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000) {
    errors.push({ message: 'unsafe entry: a symbolic link', code: 'UNSAFE_NAME', path: name });
    return true;
  }
  if (allowed && !allowed.includes(extname(name).toLowerCase())) {
    errors.push({
      message: `extension not allowed: "${extname(name)}"`,
      code: 'EXTENSION_NOT_ALLOWED',
      path: name,
    });
  }
  try {
    const stream = await new Promise((resolve, reject) =>
      zip.openReadStream(entry, (error, readStream) => (error ? reject(error) : resolve(readStream))),
    );
    let crc = 0;
    for await (const chunk of stream) crc = crc32(chunk, crc);
    if (crc >>> 0 !== entry.crc32 >>> 0) {
      errors.push({ message: 'CRC-32 mismatch: the entry is corrupt', code: 'CRC_MISMATCH', path: name });
    }
  } catch (error) {
    errors.push({ message: `entry cannot be read: ${error.message}`, code: 'CORRUPT_ENTRY', path: name });
  }
  return true;
}
