import { isUploadError, UploadError, type UploadErrorCode } from '../errors.js';
import type { DeliveryReceipt, UploadCommit } from '../ports/destination.js';
import type { SftpDestinationOptions } from './options.js';

/** What the upload thread is started with: the destination's options, without the logger (not cloneable). */
export interface UploadThreadSetup {
  options: Omit<SftpDestinationOptions, 'logger'>;
}

/** Messages to the upload thread. `call` numbers the ones that get a `reply`. */
export type ToUploadThread =
  | { type: 'begin'; call: number; id: number; remotePath: string }
  /** The first `length` bytes of `data` for session `id`, in order; `ack` returns the buffer once the session took them. */
  | { type: 'write'; id: number; data: ArrayBuffer; length: number }
  | { type: 'commit'; call: number; id: number; summary: UploadCommit }
  | { type: 'abort'; call: number; id: number }
  /** The caller's signal fired: drop the session's connection at once. */
  | { type: 'cancel'; id: number }
  | { type: 'close'; call: number };

/** Messages from the upload thread. */
export type FromUploadThread =
  | { type: 'reply'; call: number; ok: true; value?: DeliveryReceipt }
  | { type: 'reply'; call: number; ok: false; error: SerializedError }
  | { type: 'ack'; id: number; bytes: number; data: ArrayBuffer; error?: SerializedError }
  | { type: 'progress'; id: number; bytes: number }
  | {
      type: 'log';
      level: 'debug' | 'info' | 'warn' | 'error';
      fields: Record<string, unknown>;
      message: string;
    };

/** An error as it crosses the thread boundary (UploadErrors keep code, stage, retryable, details). */
export interface SerializedError {
  message: string;
  upload?: { code: UploadErrorCode; stage: UploadError['stage']; retryable: boolean; details: unknown };
}

export function serializeError(error: unknown): SerializedError {
  const message = error instanceof Error ? error.message : String(error);
  if (!isUploadError(error)) return { message };
  let details: unknown = error.details;
  try {
    structuredClone(details);
  } catch {
    details = undefined;
  }
  return {
    message,
    upload: { code: error.code, stage: error.stage, retryable: error.retryable, details },
  };
}

export function deserializeError(error: SerializedError): Error {
  if (!error.upload) return new Error(error.message);
  const { code, stage, retryable, details } = error.upload;
  return new UploadError(code, error.message, {
    retryable,
    ...(stage === undefined ? {} : { stage }),
    ...(details === undefined ? {} : { details }),
  });
}
