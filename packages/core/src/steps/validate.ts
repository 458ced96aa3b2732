import { toUploadError, UploadError } from '../errors.js';
import type { ArchiveInfo, Validator, Verdict } from '../ports/validator.js';
import type { StepContext } from './context.js';

/** Step 5: ask the validator. `valid: false` fails the task as `rejected` (never retried). */
export async function validateArchive(
  validator: Validator,
  archive: ArchiveInfo,
  context: StepContext,
): Promise<Verdict> {
  context.progress.stage('validate');
  let verdict: Verdict;
  try {
    verdict = await validator.validate(archive, context.job, { signal: context.signal });
  } catch (error) {
    throw validatorFailure(error, context.signal);
  }
  return acceptedOrThrow(verdict);
}

/** A validator call that threw: the task's own abort reason wins, else a `VALIDATOR_ERROR` unless it is an UploadError already. */
export function validatorFailure(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason ?? error;
  return toUploadError(error, 'validate', 'VALIDATOR_ERROR');
}

/** The verdict when it is valid; else `VALIDATION_REJECTED` with the validator's reasons (never retried). */
export function acceptedOrThrow(verdict: Verdict): Verdict {
  if (verdict.valid) return verdict;
  const reasons = verdict.errors.map((error) => error.message).filter(Boolean);
  throw new UploadError(
    'VALIDATION_REJECTED',
    `The validator rejected the archive${reasons.length ? `: ${reasons.slice(0, 5).join('; ')}` : ''}. Fix the job's files and submit it again.`,
    {
      stage: 'validate',
      retryable: false,
      details: { errors: verdict.errors, ...(verdict.details ?? {}) },
    },
  );
}
