import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import { isUploadError, toUploadError } from '../errors.js';
import type { DeliveryReceipt, Destination, UploadSession } from '../ports/destination.js';
import type { ArchiveInfo, Validator, Verdict } from '../ports/validator.js';
import type { StepContext } from './context.js';
import { acceptedOrThrow, validatorFailure } from './validate.js';

/** Produces the archive, handing every byte to `tee` (when given) in order; resolves with the finished archive. */
export type ArchiveProducer = (tee: ((chunk: Buffer) => Promise<void>) | undefined) => Promise<ArchiveInfo>;

export interface SinglePassOptions {
  context: StepContext;
  produce: ArchiveProducer;
  validator: Validator;
  /**
   * The destination to stream to while the archive is produced and validated
   * (overlap). Undefined, or one without `beginUpload`: nothing is uploaded
   * here, the caller delivers the finished file after the verdict.
   */
  destination?: Destination | undefined;
  remotePath: string;
  /** Called once the local archive is complete, before the verdict: a retry can start from it. */
  onArchived?: (archive: ArchiveInfo) => void;
}

export interface SinglePassResult {
  archive: ArchiveInfo;
  verdict: Verdict;
  /** Set when the destination took the bytes in the pass and committed them. */
  receipt?: DeliveryReceipt;
}

/** Bytes the validator's request body may hold ahead of what the server has read (see fetch.ts's WRITE_BUFFER for why not more). */
const VALIDATOR_BUFFER = 256 * 1024;

interface Consumer {
  write(chunk: Buffer): Promise<void>;
}

/**
 * Steps 4–6 in one pass over the bytes: as the zip is produced, each chunk
 * goes at once to the task's local file (kept for retries), to the
 * validator's request body (`validateStream`) and to the destination's
 * `.partial` (`beginUpload`); the slowest of them sets the pace. The upload is
 * committed (renamed to its final name) only when the validator accepted and
 * every byte is written; on a rejection or any failure it is aborted (the
 * `.partial` removed), so nothing appears under the final name unless it
 * was accepted. Validators without a stream input check the finished local
 * file while the upload goes on.
 *
 * A failure of the validator or the destination that another attempt may
 * cure (a dropped connection) stops the other one but lets the local file be
 * finished, so the retry reads it instead of fetching again.
 */
export async function runSinglePass(options: SinglePassOptions): Promise<SinglePassResult> {
  const { context, validator } = options;
  const { job } = context;
  const stop = new AbortController();
  const signal = AbortSignal.any([context.signal, stop.signal]);
  const consumers = new Set<Consumer>();
  /** The first failure of a consumer; `fatal` when no retry can help (stop producing at once). */
  let failure: unknown;
  let fatal = false;
  const fail = (error: unknown) => {
    if (failure !== undefined) return;
    failure = error;
    fatal = !isUploadError(error) || !error.retryable;
    if (!stop.signal.aborted) stop.abort(error);
  };

  let acknowledged = 0;
  let reported = 0;
  let delivering = false;
  const reportDelivery = () => {
    if (!delivering) return;
    context.progress.advance(0, acknowledged - reported);
    reported = acknowledged;
  };
  let session: UploadSession | undefined;
  const destination = options.destination;
  if (destination?.beginUpload) {
    try {
      session = await destination.beginUpload(options.remotePath, {
        signal,
        job,
        onProgress: (bytes) => {
          acknowledged = bytes;
          reportDelivery();
        },
      });
    } catch (error) {
      if (context.signal.aborted) throw context.signal.reason ?? error;
      throw toUploadError(error, 'deliver', 'DESTINATION_ERROR');
    }
    const upload = session;
    consumers.add({ write: (chunk) => upload.write(chunk) });
  }

  let completeArchive!: (archive: ArchiveInfo) => void;
  let failArchive!: (error: unknown) => void;
  const complete = new Promise<ArchiveInfo>((resolve, reject) => {
    completeArchive = resolve;
    failArchive = reject;
  });
  complete.catch(() => undefined);
  let body: PassThrough | undefined;
  let validation: Promise<Verdict> | undefined;
  let archived = false;
  if (validator.validateStream) {
    const pass = new PassThrough({ highWaterMark: VALIDATOR_BUFFER });
    body = pass;
    let settled = false;
    let wake = () => {};
    validation = validator.validateStream({ stream: pass, complete }, job, { signal }).finally(() => {
      settled = true;
      wake();
    });
    // A verdict or an error before the archive is complete stops the pass: a refusal at once, an
    // outage once the local file is finished (for the retry).
    validation.then(
      (verdict) => {
        if (!archived && !verdict.valid) {
          try {
            acceptedOrThrow(verdict);
          } catch (rejection) {
            fail(rejection);
          }
        }
      },
      (error: unknown) => {
        if (!archived) fail(validatorFailure(error, context.signal));
      },
    );
    consumers.add({
      async write(chunk) {
        if (settled) return;
        if (pass.write(chunk)) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          pass.once('drain', resolve);
        });
        pass.off('drain', wake);
      },
    });
  }

  const tee = async (chunk: Buffer) => {
    await Promise.all(
      [...consumers].map(async (consumer) => {
        try {
          await consumer.write(chunk);
        } catch (error) {
          consumers.delete(consumer);
          fail(error);
        }
      }),
    );
    if (fatal) throw failure;
  };

  const abortAll = async (error: unknown) => {
    if (!stop.signal.aborted) stop.abort(error);
    // Without an error: the validator may no longer be listening (an 'error' nobody hears would crash).
    body?.destroy();
    failArchive(error);
    await Promise.all([session?.abort(), validation?.catch(() => undefined)]);
  };

  let archive: ArchiveInfo;
  try {
    archive = await options.produce(consumers.size > 0 ? tee : undefined);
  } catch (error) {
    await abortAll(error);
    throw context.signal.aborted ? (context.signal.reason ?? error) : (failure ?? error);
  }
  archived = true;
  options.onArchived?.(archive);
  completeArchive(archive);
  body?.end();
  if (failure !== undefined) {
    await abortAll(failure);
    throw failure;
  }

  context.progress.stage('validate');
  let verdict: Verdict;
  try {
    try {
      verdict = validation
        ? await validation
        : await validator.validate(archive, job, { signal: context.signal });
    } catch (error) {
      throw validatorFailure(error, context.signal);
    }
    acceptedOrThrow(verdict);
  } catch (error) {
    await abortAll(error);
    throw error;
  }
  if (!session) return { archive, verdict };

  context.progress.stage('deliver');
  context.progress.totals(1, archive.size);
  delivering = true;
  reportDelivery();
  try {
    const receipt = await session.commit({ size: archive.size, sha256: archive.sha256 });
    context.progress.advance(1, Math.max(0, archive.size - reported));
    return { archive, verdict, receipt };
  } catch (error) {
    await session.abort();
    if (context.signal.aborted) throw context.signal.reason ?? error;
    throw toUploadError(error, 'deliver', 'DESTINATION_ERROR');
  }
}

/** A producer that replays a finished local archive (a retry: nothing is fetched or zipped again). */
export function replayArchive(archive: ArchiveInfo, context: StepContext): ArchiveProducer {
  return async (tee) => {
    if (!tee) return archive;
    const source = createReadStream(archive.path, { highWaterMark: 1024 * 1024, signal: context.signal });
    for await (const chunk of source) await tee(chunk as Buffer);
    return archive;
  };
}
