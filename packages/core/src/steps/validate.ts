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
    if (context.signal.aborted) throw context.signal.reason ?? error;
    throw toUploadError(error, 'validate', 'VALIDATOR_ERROR');
  }
  if (!verdict.valid) {
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
  return verdict;
}
