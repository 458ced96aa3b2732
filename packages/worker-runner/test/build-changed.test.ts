import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repository = fileURLToPath(new URL('../../..', import.meta.url));
const script = join(repository, 'scripts/build-changed.mjs');

/** `npm start`'s build step, on a workspace of one package. */
function buildChanged(root: string) {
  const result = spawnSync(process.execPath, [script, root], { encoding: 'utf8' });
  return { code: result.status, stderr: result.stderr };
}

describe("npm start's build: only what changed, never emptying dist/", () => {
  let root: string;
  const dist = () => join(root, 'packages/demo/dist');
  const source = () => join(root, 'packages/demo/src/index.ts');

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'build-changed-'));
    await symlink(join(repository, 'node_modules'), join(root, 'node_modules'));
    await writeFile(join(root, 'tsconfig.json'), await readFile(join(repository, 'tsconfig.json')));
    const folder = join(root, 'packages/demo');
    await mkdir(join(folder, 'src'), { recursive: true });
    await writeFile(
      join(folder, 'package.json'),
      JSON.stringify({ name: 'demo', type: 'module', scripts: { build: 'tsup' } }),
    );
    await writeFile(
      join(folder, 'tsup.config.ts'),
      "import { defineConfig } from 'tsup';\nexport default defineConfig({ entry: { index: 'src/index.ts' }, format: ['esm'], clean: true, dts: process.env.NCR_UPLOAD_BUILD !== 'js' });\n",
    );
    await writeFile(source(), 'export const answer = 1;\n');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('builds JavaScript once, skips an unchanged package, and rebuilds a changed one over dist/', async () => {
    const first = buildChanged(root);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('building demo');
    expect(await readFile(join(dist(), 'index.js'), 'utf8')).toContain('answer = 1');
    // JavaScript only: declarations are built by `npm run build`.
    expect(existsSync(join(dist(), 'index.d.ts'))).toBe(false);

    // A file a running instance may still load: no build may remove it.
    await writeFile(join(dist(), 'chunk-in-use.js'), 'export {};\n');
    const builtAt = (await stat(join(dist(), 'index.js'))).mtimeMs;
    const second = buildChanged(root);
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    expect((await stat(join(dist(), 'index.js'))).mtimeMs).toBe(builtAt);

    await writeFile(source(), 'export const answer = 2;\n');
    const third = buildChanged(root);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain('building demo');
    expect(await readFile(join(dist(), 'index.js'), 'utf8')).toContain('answer = 2');
    expect(existsSync(join(dist(), 'chunk-in-use.js'))).toBe(true);
    expect(existsSync(join(root, 'packages/demo/dist.staging'))).toBe(false);
  });

  it('a failed build leaves dist/ as it was and says why', async () => {
    await writeFile(source(), 'export const answer = ;\n');
    const failed = buildChanged(root);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/failed/);
    expect(await readFile(join(dist(), 'index.js'), 'utf8')).toContain('answer = 2');
  });
});
