import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { UploadError } from '../errors.js';
import type { JobRequest } from '../job.js';
import { safeRelativePath } from '../paths.js';
import type { CallOptions } from '../ports/file-ref.js';
import type { ArchiveBuffer, ArchiveInfo, Validator, Verdict, VerdictError } from '../ports/validator.js';
import { cancelled, errnoOf, throwIfAborted } from './fs-errors.js';
import {
  type Entry,
  lowLevel,
  nextEntry,
  openZip,
  openZipBuffer,
  readStream,
  storedBytes,
  type ZipFile,
} from './zip-reader.js';

export interface BuiltinValidatorOptions {
  /**
   * File extensions allowed in the archive, case-insensitive, with or without
   * the dot (`pdf`, `.JPG`, `tar.gz`); `''` allows files without one.
   * Default: any extension.
   */
  allowedExtensions?: string[];
  /** Largest total uncompressed size in bytes. Default: no limit. */
  maxTotalBytes?: number;
  /** Most files (folder entries not counted). Default: no limit. */
  maxFiles?: number;
  /**
   * Names or relative paths (no wildcards) that must be in the archive. A
   * name matches a file of that name in any folder; `a/b.txt` matches a path
   * ending in `/a/b.txt` or equal to it. Case-sensitive. Default: none.
   */
  requiredFiles?: string[];
  /** Accept an archive with no files. Default: false. */
  allowEmpty?: boolean;
}

/** The built-in validator: the same rules over a local file (`validate`) or a zip in memory (`validateBuffer`). */
export interface BuiltinValidator extends Validator {
  validateBuffer(archive: ArchiveBuffer, job: JobRequest, options?: CallOptions): Promise<Verdict>;
}

/** Codes in `Verdict.errors[].code`. */
export type BuiltinValidationCode =
  | 'CORRUPT_ZIP'
  | 'UNSAFE_PATH'
  | 'DUPLICATE_ENTRY'
  | 'ENCRYPTED_ENTRY'
  | 'DISALLOWED_EXTENSION'
  | 'TOO_LARGE'
  | 'TOO_MANY_FILES'
  | 'MISSING_REQUIRED_FILE'
  | 'EMPTY_ARCHIVE';

const OptionsSchema = z.strictObject({
  allowedExtensions: z.array(z.string()).optional(),
  maxTotalBytes: z.number().int().nonnegative().optional(),
  maxFiles: z.number().int().nonnegative().optional(),
  requiredFiles: z.array(z.string().min(1)).optional(),
  allowEmpty: z.boolean().optional(),
});

/** At most this many errors are listed; `details.truncated` says when more were found. */
const MAX_ERRORS = 100;

/** A Unix symbolic link: the file type bits of the mode kept in the high half of the external attributes. */
function isSymbolicLink(entry: Entry): boolean {
  return ((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Built-in archive rules, the embedded default when no validator API is
 * configured: zip integrity (every entry is read and its CRC-32 checked), safe
 * entry names, allowed extensions, size and count limits, required files.
 * Problems come back as `{ valid: false, errors }`, never as a thrown error;
 * only an aborted call or a missing archive file throws.
 */
export function createBuiltinValidator(options: BuiltinValidatorOptions = {}): BuiltinValidator {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new UploadError(
      'CONFIG_INVALID',
      `Invalid built-in validator options: ${z.prettifyError(parsed.error)}`,
      {
        details: { issues: parsed.error.issues },
      },
    );
  }
  const config = parsed.data;
  const extensions = config.allowedExtensions?.map((extension) => extension.toLowerCase().replace(/^\./, ''));
  const required = (config.requiredFiles ?? []).map((name) => {
    try {
      return safeRelativePath(name);
    } catch {
      throw new UploadError('CONFIG_INVALID', `requiredFiles holds an unsafe path: ${JSON.stringify(name)}.`);
    }
  });

  const extensionAllowed = (path: string): boolean => {
    if (!extensions) return true;
    const name = (path.split('/').pop() ?? path).toLowerCase();
    return extensions.some((extension) =>
      extension === ''
        ? !name.includes('.')
        : name.endsWith(`.${extension}`) && name.length > extension.length + 1,
    );
  };

  /**
   * Every rule over the zip `openArchive` opens (a local file, or `data` in
   * memory: its stored entries are checked in place, without a read stream).
   */
  async function inspect(
    openArchive: () => Promise<ZipFile>,
    signal?: AbortSignal,
    data?: Buffer,
  ): Promise<Verdict> {
    throwIfAborted(signal, 'validate');
    const errors: VerdictError[] = [];
    let truncated = false;
    const add = (error: VerdictError & { code: BuiltinValidationCode }) => {
      if (errors.length < MAX_ERRORS) errors.push(error);
      else truncated = true;
    };
    const verdict = (complete: boolean, facts: Record<string, unknown>): Verdict => ({
      valid: errors.length === 0,
      errors,
      details: { ...facts, complete, ...(truncated ? { truncated: true } : {}) },
    });

    let zip: ZipFile;
    try {
      zip = await openArchive();
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') {
        throw new UploadError('VALIDATOR_ERROR', 'The archive to validate is missing from the task folder.', {
          stage: 'validate',
          cause: error,
        });
      }
      add({ code: 'CORRUPT_ZIP', message: `The archive cannot be read as a zip: ${describe(error)}.` });
      return verdict(false, { files: 0, bytes: 0 });
    }
    // Errors arrive through nextEntry and the read streams; this keeps a stray one from crashing the process.
    zip.on('error', () => undefined);

    const seen = new Map<string, string>();
    const paths: string[] = [];
    let files = 0;
    let bytes = 0;
    let declared = 0;
    let complete = true;
    try {
      for (;;) {
        throwIfAborted(signal, 'validate');
        let entry: Entry | null;
        try {
          entry = await nextEntry(zip);
        } catch (error) {
          add({ code: 'CORRUPT_ZIP', message: `The zip's directory is damaged: ${describe(error)}.` });
          complete = false;
          break;
        }
        if (!entry) break;
        const name = lowLevel.getFileNameLowLevel(
          entry.generalPurposeBitFlag,
          entry.fileNameRaw,
          entry.extraFields,
          true,
        );
        const isFolder = name.endsWith('/');
        let path = name;
        try {
          path = safeRelativePath(name);
        } catch (error) {
          add({ code: 'UNSAFE_PATH', message: `Unsafe entry name: ${describe(error)}`, path: name });
        }
        const key = path.normalize('NFC').toLowerCase() + (isFolder ? '/' : '');
        const previous = seen.get(key);
        if (previous !== undefined) {
          add({
            code: 'DUPLICATE_ENTRY',
            message: `${JSON.stringify(name)} repeats ${JSON.stringify(previous)}.`,
            path: name,
          });
        }
        seen.set(key, name);
        if (isFolder) continue;

        files += 1;
        paths.push(path);
        if (config.maxFiles !== undefined && files > config.maxFiles) {
          add({ code: 'TOO_MANY_FILES', message: `The archive holds more than ${config.maxFiles} files.` });
          complete = false;
          break;
        }
        if (!extensionAllowed(path)) {
          add({
            code: 'DISALLOWED_EXTENSION',
            message: `${JSON.stringify(name)} has an extension that is not allowed (allowed: ${extensions?.map((extension) => extension || '(none)').join(', ')}).`,
            path: name,
          });
        }
        declared += entry.uncompressedSize;
        if (config.maxTotalBytes !== undefined && declared > config.maxTotalBytes) {
          add({
            code: 'TOO_LARGE',
            message: `The archive holds more than ${config.maxTotalBytes} bytes uncompressed.`,
          });
          complete = false;
          break;
        }
        if (isSymbolicLink(entry)) {
          add({
            code: 'UNSAFE_PATH',
            message: `${JSON.stringify(name)} is a symbolic link: unzipping it creates a link that can point anywhere.`,
            path: name,
          });
          continue;
        }
        if ((entry.generalPurposeBitFlag & 1) !== 0) {
          add({
            code: 'ENCRYPTED_ENTRY',
            message: `${JSON.stringify(name)} is encrypted and cannot be checked.`,
            path: name,
          });
          continue;
        }
        try {
          let crc = 0;
          const stored = data ? storedBytes(data, entry) : undefined;
          if (stored) {
            crc = crc32(stored);
            bytes += stored.length;
          } else {
            const stream = await readStream(zip, entry);
            for await (const chunk of stream) {
              throwIfAborted(signal, 'validate');
              crc = crc32(chunk as Buffer, crc);
              bytes += (chunk as Buffer).length;
            }
          }
          if (crc >>> 0 !== entry.crc32 >>> 0) {
            add({
              code: 'CORRUPT_ZIP',
              message: `${JSON.stringify(name)} fails its CRC-32 check.`,
              path: name,
            });
          }
        } catch (error) {
          if (error instanceof UploadError) throw error;
          add({
            code: 'CORRUPT_ZIP',
            message: `${JSON.stringify(name)} cannot be read: ${describe(error)}.`,
            path: name,
          });
        }
      }
    } finally {
      zip.close();
    }
    if (signal?.aborted) throw cancelled('validate', signal.reason);

    // A file cannot also be a folder ("a" and "a/b"): unzipping one of them fails or replaces the other.
    const fileKeys = new Set(paths.map((path) => path.normalize('NFC').toLowerCase()));
    for (const path of paths) {
      const segments = path.normalize('NFC').toLowerCase().split('/');
      for (let end = 1; end < segments.length; end += 1) {
        if (fileKeys.has(segments.slice(0, end).join('/'))) {
          add({
            code: 'DUPLICATE_ENTRY',
            message: `${JSON.stringify(path)} lies in a folder that is also a file in the archive.`,
            path,
          });
          break;
        }
      }
    }
    if (complete) {
      if (files === 0 && !config.allowEmpty) {
        add({ code: 'EMPTY_ARCHIVE', message: 'The archive holds no files.' });
      }
      for (const want of required) {
        if (!paths.some((path) => path === want || path.endsWith(`/${want}`))) {
          add({
            code: 'MISSING_REQUIRED_FILE',
            message: `Required file ${JSON.stringify(want)} is missing.`,
            path: want,
          });
        }
      }
    }
    return verdict(complete, { files, bytes });
  }

  return {
    validate: (archive: ArchiveInfo, _job: JobRequest, callOptions: CallOptions = {}) =>
      inspect(() => openZip(archive.path), callOptions.signal),
    // The same rules over the bytes in memory: no file is opened or read again.
    validateBuffer: (archive: ArchiveBuffer, _job: JobRequest, callOptions: CallOptions = {}) =>
      inspect(() => openZipBuffer(archive.data), callOptions.signal, archive.data),
  };
}
