import { toUploadError, UploadError } from '../errors.js';
import { mapLimit } from '../internal/async.js';
import type { DeliveryReceipt, Destination, UploadSession } from '../ports/destination.js';
import type { LayoutEntry } from '../ports/file-ref.js';
import type { Storage } from '../ports/storage.js';
import type { ArchiveBuffer, Validator, Verdict } from '../ports/validator.js';
import { planStoredZip, type StoredZipPlan, sha256Of } from '../zip/zip-in-place.js';
import { type CompressionMode, isCompressedType, ZipWriter } from '../zip/zip-writer.js';
import type { StepContext } from './context.js';
import { acceptedOrThrow, validatorFailure } from './validate.js';

/** What the in-memory path needs besides the steps' context. */
export interface InMemorySettings {
  storage: Storage;
  validator: Validator;
  destination: Destination;
  fetchConcurrency: number;
  compression: CompressionMode;
  compressionLevel: number;
}

/**
 * Whether a job runs in memory: the limit is on, every file's size is known
 * from the catalog and they add up to at most `maxBytes`, the zip is
 * delivered (not the folder), the validator can check a buffer and the
 * destination can take a streamed upload.
 */
export function fitsInMemory(
  entries: readonly LayoutEntry[],
  maxBytes: number,
  ports: { validator: Validator; destination: Destination },
  delivery: 'zip' | 'folder',
): boolean {
  if (
    maxBytes <= 0 ||
    delivery !== 'zip' ||
    !ports.validator.validateBuffer ||
    !ports.destination.beginUpload
  )
    return false;
  let total = 0;
  for (const entry of entries) {
    const size = entry.file.size;
    if (size === undefined) return false;
    total += size;
    if (total > maxBytes) return false;
  }
  return true;
}

/** The task's own abort wins over the error it caused; anything else becomes an UploadError of `stage`. */
function failure(error: unknown, context: StepContext, stage: 'fetch' | 'archive' | 'deliver') {
  if (context.signal.aborted) return context.signal.reason ?? error;
  return toUploadError(
    error,
    stage,
    stage === 'fetch' ? 'STORAGE_ERROR' : stage === 'archive' ? 'ARCHIVE_ERROR' : 'DESTINATION_ERROR',
  );
}

/** One file's bytes: `storage.read` when it has it, else its stream gathered. */
async function readWhole(storage: Storage, entry: LayoutEntry, signal: AbortSignal): Promise<Buffer> {
  if (storage.read) return storage.read(entry.file, { signal });
  const opened = await storage.open(entry.file, { signal });
  const chunks: Buffer[] = [];
  for await (const chunk of opened.stream) chunks.push(chunk as Buffer);
  const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (opened.size !== undefined && opened.size !== data.length) {
    throw sizeMismatch(entry, opened.size, data.length);
  }
  return data;
}

/** One file's bytes straight into `slot` (its place in the zip): `storage.readInto` when it has it, else read and copied. */
async function readIntoSlot(
  storage: Storage,
  entry: LayoutEntry,
  slot: Buffer,
  signal: AbortSignal,
): Promise<void> {
  if (storage.readInto) {
    const read = await storage.readInto(entry.file, slot, { signal });
    if (read !== slot.length) throw sizeMismatch(entry, slot.length, read);
    return;
  }
  const data = await readWhole(storage, entry, signal);
  if (data.length !== slot.length) throw sizeMismatch(entry, slot.length, data.length);
  data.copy(slot);
}

function sizeMismatch(entry: LayoutEntry, expected: number, received: number): UploadError {
  return new UploadError(
    'SIZE_MISMATCH',
    `Received ${received}${received > expected ? ' or more' : ''} bytes of ${JSON.stringify(entry.file.key)} but expected ${expected}; the download was cut short or the catalog's size is wrong.`,
    { stage: 'fetch', retryable: true, details: { key: entry.file.key, expected, received } },
  );
}

/** The one-buffer plan of a zip whose entries are all stored (none deflated under `compression`), else undefined. */
function storedPlan(
  entries: readonly LayoutEntry[],
  compression: CompressionMode,
): StoredZipPlan | undefined {
  if (compression === 'deflate') return undefined;
  if (compression === 'auto' && !entries.every((entry) => isCompressedType(entry.path))) return undefined;
  return planStoredZip(entries.map((entry) => ({ name: entry.path, size: entry.file.size as number })));
}

/**
 * Steps 3–4 for a small job (`fitsInMemory`): every file is read into memory
 * (at most `fetchConcurrency` at once, sizes checked against the catalog) and
 * zipped with the same bytes as the writer on disk. When no entry is
 * deflated, the zip is laid out in one buffer first and each file is read
 * straight into its place (`storage.readInto`), then the CRC-32 of each entry
 * and the zip's sha256 are computed; otherwise the files are read whole and
 * go through the streaming writer. No task folder is made: nothing is
 * written locally.
 */
export async function buildInMemory(
  entries: LayoutEntry[],
  context: StepContext,
  settings: InMemorySettings,
): Promise<ArchiveBuffer> {
  const { progress, signal } = context;
  progress.stage('fetch');
  progress.totals(
    entries.length,
    entries.reduce((sum, entry) => sum + (entry.file.size ?? 0), 0),
  );
  const plan = storedPlan(entries, settings.compression);
  if (plan) {
    try {
      await mapLimit(entries, settings.fetchConcurrency, async (entry, index) => {
        signal.throwIfAborted();
        const slot = plan.slots[index] as Buffer;
        await readIntoSlot(settings.storage, entry, slot, signal);
        progress.advance(1, slot.length);
      });
    } catch (error) {
      throw failure(error, context, 'fetch');
    }
    progress.stage('archive');
    try {
      const data = plan.seal();
      return { data, size: data.length, sha256: sha256Of(data), entries };
    } catch (error) {
      throw failure(error, context, 'archive');
    }
  }
  let files: Buffer[];
  try {
    files = await mapLimit(entries, settings.fetchConcurrency, async (entry) => {
      signal.throwIfAborted();
      const data = await readWhole(settings.storage, entry, signal);
      const expected = entry.file.size;
      if (expected !== undefined && expected !== data.length)
        throw sizeMismatch(entry, expected, data.length);
      progress.advance(1, data.length);
      return data;
    });
  } catch (error) {
    throw failure(error, context, 'fetch');
  }
  progress.stage('archive');
  const chunks: Buffer[] = [];
  try {
    const zip = new ZipWriter((chunk) => void chunks.push(chunk), {
      compression: settings.compression,
      level: settings.compressionLevel,
    });
    for (const [index, entry] of entries.entries()) {
      await zip.addBuffer(entry.path, files[index] as Buffer);
    }
    const summary = await zip.finish();
    const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, summary.size);
    return { data, size: summary.size, sha256: summary.sha256, entries };
  } catch (error) {
    throw failure(error, context, 'archive');
  }
}

/**
 * Steps 5–6 for an archive in memory: the validator checks the buffer
 * (`validateBuffer`); only once it accepted is the zip written to the
 * destination's `.partial` in one write and committed (renamed to its final
 * name). A rejection writes nothing at the destination; a failed delivery
 * removes the `.partial`. A retry of the same run calls this again with the
 * same archive: nothing is fetched or zipped again.
 */
export async function validateAndDeliverInMemory(
  archive: ArchiveBuffer,
  remotePath: string,
  context: StepContext,
  ports: { validator: Validator; destination: Destination },
): Promise<DeliveryReceipt> {
  const { progress, signal, job } = context;
  progress.stage('validate');
  const { validator, destination } = ports;
  let verdict: Verdict;
  try {
    verdict = await (validator.validateBuffer as NonNullable<Validator['validateBuffer']>)(archive, job, {
      signal,
    });
  } catch (error) {
    throw validatorFailure(error, signal);
  }
  acceptedOrThrow(verdict);
  progress.stage('deliver');
  progress.totals(1, archive.size);
  let session: UploadSession | undefined;
  try {
    signal.throwIfAborted();
    session = await (destination.beginUpload as NonNullable<Destination['beginUpload']>)(remotePath, {
      signal,
      job,
    });
    await session.write(archive.data);
    const receipt = await session.commit({ size: archive.size, sha256: archive.sha256 });
    progress.advance(1, archive.size);
    return receipt;
  } catch (error) {
    await session?.abort().catch(() => undefined);
    throw failure(error, context, 'deliver');
  }
}
