/**
 * `@ncr-upload/core` must not load the AWS SDK: only the `/s3` subpath may.
 * Follows every relative import (static and dynamic) from the entry points
 * and collects the packages they reach.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SOURCE = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

function packagesReachedFrom(entry: string): { packages: Set<string>; files: Set<string> } {
  const packages = new Set<string>();
  const files = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
        const candidates = [target, `${target}.ts`, resolve(target, 'index.ts')];
        const found = candidates.find((candidate) => candidate.endsWith('.ts') && existsSync(candidate));
        if (found) pending.push(found);
      } else {
        packages.add(specifier);
      }
    }
  }
  return { packages, files };
}

describe('AWS SDK isolation', () => {
  it('the root entry point never imports @aws-sdk', () => {
    const { packages, files } = packagesReachedFrom(resolve(SOURCE, 'index.ts'));
    expect(files.size).toBeGreaterThan(5);
    expect([...packages].filter((name) => name.startsWith('@aws-sdk') || name.startsWith('@smithy'))).toEqual(
      [],
    );
    expect([...files].filter((file) => file.includes(`${sep}s3${sep}`))).toEqual([]);
  });

  it('the /s3 entry point does (so the scan sees SDK imports)', () => {
    const { packages } = packagesReachedFrom(resolve(SOURCE, 's3/index.ts'));
    expect(packages).toContain('@aws-sdk/client-s3');
  });
});
