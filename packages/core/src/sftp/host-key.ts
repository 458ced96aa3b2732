import { createHash } from 'node:crypto';

/** OpenSSH's fingerprint of a raw public key blob: `SHA256:` + base64 of its sha256, without padding. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** `SHA256:<base64>` with padding removed, or undefined when it is not a sha256 fingerprint. */
export function normaliseFingerprint(input: string): string | undefined {
  const match = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(input.trim());
  return match ? `SHA256:${match[1]}` : undefined;
}
