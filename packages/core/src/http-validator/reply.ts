import { z } from 'zod';
import type { Verdict, VerdictError } from '../ports/validator.js';

const ErrorItemSchema = z.union([
  z.string().transform((message): VerdictError => ({ message })),
  z
    .object({
      message: z.string().optional(),
      msg: z.string().optional(),
      code: z.union([z.string(), z.number()]).optional(),
      path: z.union([z.string(), z.array(z.union([z.string(), z.number()]))]).optional(),
      loc: z.array(z.union([z.string(), z.number()])).optional(),
    })
    .transform((item): VerdictError => {
      const path = item.path ?? item.loc;
      return {
        message: item.message ?? item.msg ?? 'invalid',
        ...(item.code === undefined ? {} : { code: String(item.code) }),
        ...(path === undefined ? {} : { path: Array.isArray(path) ? path.join('.') : path }),
      };
    }),
]);

/** The validator's reply: `{ valid, errors? }`; any other field is kept as `details`. */
export const ValidatorReplySchema = z.looseObject({
  valid: z.boolean(),
  errors: z.array(ErrorItemSchema).nullish(),
});

/** Parse a 2xx body into a verdict; null when it does not follow the contract. */
export function parseVerdict(body: string): Verdict | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const parsed = ValidatorReplySchema.safeParse(json);
  if (!parsed.success) return null;
  const { valid, errors, ...rest } = parsed.data;
  const list = errors ?? [];
  if (!valid && list.length === 0)
    list.push({ message: 'The validator rejected the archive without a reason.' });
  return {
    valid,
    errors: list,
    ...(Object.keys(rest).length > 0 ? { details: rest } : {}),
  };
}

/**
 * Reasons from a 4xx body, whatever its shape: our contract's `errors`, a
 * FastAPI `detail` (string or list), or a `message` / `error` string. Empty
 * when the body says nothing usable.
 */
export function reasonsFromErrorBody(body: string): {
  errors: VerdictError[];
  details?: Record<string, unknown>;
} {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { errors: [] };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { errors: [] };
  const record = json as Record<string, unknown>;
  const list = z.array(ErrorItemSchema);
  for (const field of ['errors', 'detail']) {
    const value = record[field];
    if (typeof value === 'string' && value.trim()) return { errors: [{ message: value }], details: record };
    const parsed = list.safeParse(value);
    if (parsed.success && parsed.data.length > 0) return { errors: parsed.data, details: record };
  }
  for (const field of ['message', 'error']) {
    const value = record[field];
    if (typeof value === 'string' && value.trim()) return { errors: [{ message: value }], details: record };
  }
  return { errors: [], details: record };
}
