import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpProblem } from './problem.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The key a request presents in `X-API-Key` or `Authorization: Bearer <key>`, if any. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = headers['x-api-key'];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct) return direct.trim();
  const authorization = headers.authorization;
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  const match = value ? /^Bearer\s+(.+)$/i.exec(value.trim()) : null;
  return match?.[1]?.trim();
}

/**
 * Whether a request presents one of `keys`. Comparison is in constant time over
 * sha256 digests (equal lengths), and every key is compared so the time does not
 * tell which one matched.
 */
export function keyMatcher(
  keys: string[],
): (headers: Record<string, string | string[] | undefined>) => boolean {
  const expected = keys.map(digest);
  return (headers) => {
    const key = presentedKey(headers);
    if (!key) return false;
    const presented = digest(key);
    let ok = false;
    for (const candidate of expected) ok = timingSafeEqual(presented, candidate) || ok;
    return ok;
  };
}

/** Middleware that lets a request through only with one of `keys` (see `keyMatcher`). */
export function requireApiKey(keys: string[]): RequestHandler {
  const matches = keyMatcher(keys);
  return (request, _response, next) => {
    if (matches(request.headers)) return next();
    const key = presentedKey(request.headers);
    next(
      new HttpProblem(
        401,
        'unauthorized',
        key ? 'The API key is not valid.' : 'An API key is required (X-API-Key or Authorization: Bearer).',
        { headers: { 'WWW-Authenticate': 'Bearer realm="ncr-upload", charset="UTF-8"' } },
      ),
    );
  };
}
