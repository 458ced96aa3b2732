import { isUploadError } from './errors.js';
import { withTimeout } from './internal/async.js';
import type { PipelineHealth } from './pipeline-types.js';

/** Something with an optional `ping`: every port can have one. */
interface Pingable {
  ping?(): Promise<void>;
}

/**
 * Ping every part that can be pinged, at once, each within `timeoutMs`.
 * Degraded when any ping fails; parts without `ping` are `skipped`. Messages of
 * foreign errors are not shown (they may hold a URL with credentials).
 */
export async function checkHealth(
  parts: Record<string, Pingable>,
  timeoutMs = 5000,
): Promise<PipelineHealth> {
  const checks: PipelineHealth['checks'] = {};
  await Promise.all(
    Object.entries(parts).map(async ([name, part]) => {
      if (!part.ping) {
        checks[name] = { status: 'skipped' };
        return;
      }
      const timeoutMessage = `health check timed out after ${timeoutMs / 1000} s`;
      try {
        await withTimeout(part.ping(), timeoutMs, timeoutMessage);
        checks[name] = { status: 'ok' };
      } catch (error) {
        const timedOut = error instanceof Error && error.message === timeoutMessage;
        const shown = isUploadError(error) || timedOut;
        const code = isUploadError(error) ? error.code : timedOut ? 'TIMEOUT' : 'UNREACHABLE';
        checks[name] = { status: 'error', message: shown ? (error as Error).message : 'unreachable', code };
      }
    }),
  );
  const degraded = Object.values(checks).some((check) => check.status === 'error');
  return { status: degraded ? 'degraded' : 'healthy', checks, timestamp: new Date().toISOString() };
}
