import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Import `entry` in a fresh Node process and list the ssh2 modules it loaded. */
async function ssh2ModulesLoadedBy(entry: string): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    await import(${JSON.stringify(entry)});
    const loaded = Object.keys(require.cache).filter((path) => /[\\\\/]node_modules[\\\\/]ssh2/.test(path));
    process.stdout.write(JSON.stringify(loaded));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
  });
  return JSON.parse(stdout) as string[];
}

describe('sftp subpath isolation', () => {
  it('importing @ncr-upload/core does not load ssh2; the /sftp subpath does', async () => {
    const root = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    const sftp = fileURLToPath(new URL('../src/sftp/index.ts', import.meta.url));
    expect(await ssh2ModulesLoadedBy(root)).toEqual([]);
    expect((await ssh2ModulesLoadedBy(sftp)).some((path) => path.includes('ssh2-sftp-client'))).toBe(true);
  });
});
