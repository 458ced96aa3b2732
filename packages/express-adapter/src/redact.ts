import { redactCredentials } from '@ncr-upload/core/internal';

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  stack?: unknown;
  code?: unknown;
  stage?: unknown;
  cause?: unknown;
}

/**
 * An error as a plain object fit for a log line: name, code, message, stack and
 * causes (up to `depth`), with credentials inside URLs redacted.
 */
export function loggableError(error: unknown, depth = 3): Record<string, unknown> {
  if (typeof error !== 'object' || error === null) {
    return { message: redactCredentials(String(error)) };
  }
  const value = error as ErrorLike;
  const text = (field: unknown) => (typeof field === 'string' ? redactCredentials(field) : undefined);
  const out: Record<string, unknown> = {
    type: typeof value.name === 'string' ? value.name : 'Error',
    message: text(value.message) ?? '',
  };
  if (typeof value.code === 'string') out.code = value.code;
  if (typeof value.stage === 'string') out.stage = value.stage;
  const stack = text(value.stack);
  if (stack) out.stack = stack;
  if (value.cause !== undefined && depth > 0) out.cause = loggableError(value.cause, depth - 1);
  return out;
}
