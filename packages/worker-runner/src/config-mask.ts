import type { RunnerConfig } from './config.js';

/** Variables whose values never reach a log, a banner or an error message. */
export const SECRET_VARIABLES = new Set([
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'SFTP_PASSWORD',
  'DATABASE_URL',
  'DB_PASSWORD',
  'API_KEY',
  'REDIS_URL',
]);

/** The effective variables with secrets shown as `***` (credentials inside URLs too). */
export function maskConfig(config: RunnerConfig): Record<string, string | number | boolean | undefined> {
  const masked: Record<string, string | number | boolean | undefined> = {};
  for (const [name, value] of Object.entries(config.env)) {
    if (value === undefined) masked[name] = undefined;
    else if (URL_SECRETS.has(name)) masked[name] = maskUrl(String(value)) ?? '***';
    else if (SECRET_VARIABLES.has(name)) masked[name] = '***';
    else masked[name] = value;
  }
  return masked;
}

/** Secret variables holding a URL: shown with their credentials and query masked, the host kept. */
const URL_SECRETS = new Set(['DATABASE_URL', 'REDIS_URL', 'VALIDATOR_URL', 'VALIDATOR_HEALTH_URL']);

/**
 * `redis://user:pass@host:6379/0?password=x` → `redis://***@host:6379/0?***`: credentials
 * and the query (drivers read passwords from it too) masked; null when not a URL with a host.
 */
export function maskUrl(value: string): string | null {
  try {
    const parsed = new URL(value);
    if (!parsed.host) return null;
    const credentials = parsed.username || parsed.password ? '***@' : '';
    const path = parsed.pathname === '/' ? '' : parsed.pathname;
    return `${parsed.protocol}//${credentials}${parsed.host}${path}${parsed.search ? '?***' : ''}`;
  } catch {
    return null;
  }
}
