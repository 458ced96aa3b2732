import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, cliPath, freePort, runCli } from './cli-helpers.js';

/**
 * Runs every shell block of README.md and docs/ marked ```` ```bash runnable ````, and
 * compares what each command prints (stdout and stderr) with the `# ` lines
 * that follow it in the block. `…` in a documented line stands for any text;
 * a line of only `…` for any number of lines. Commands run in a temp folder
 * against a fresh `ncr-upload serve` on embedded defaults; the documented port
 * 8001 is replaced by the server's.
 */

const run = promisify(execFile);
const repository = fileURLToPath(new URL('../../..', import.meta.url));
const tsxLoader = createRequire(import.meta.url).resolve('tsx');

interface Step {
  command: string;
  expected: string[];
}
interface Block {
  file: string;
  line: number;
  steps: Step[];
}

async function markdownFiles(): Promise<string[]> {
  const docs = await readdir(join(repository, 'docs'), { recursive: true });
  return [
    join(repository, 'README.md'),
    ...docs.filter((name) => name.endsWith('.md')).map((name) => join(repository, 'docs', name)),
  ];
}

/** The runnable blocks of a file, each as commands with the output documented under them. */
function runnableBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  for (const match of text.matchAll(/^```bash runnable\n([\s\S]*?)^```$/gm)) {
    const steps: Step[] = [];
    let pending = '';
    for (const line of (match[1] ?? '').split('\n')) {
      if (line.trim() === '') continue;
      if (pending === '' && line.startsWith('#')) {
        // Output of the previous command (comments before the first command describe the block).
        steps.at(-1)?.expected.push(line.replace(/^# ?/, ''));
        continue;
      }
      pending += `${line}\n`;
      if (line.endsWith('\\')) continue;
      steps.push({ command: pending.trimEnd(), expected: [] });
      pending = '';
    }
    blocks.push({ file, line: text.slice(0, match.index).split('\n').length, steps });
  }
  return blocks;
}

/** A documented output as a pattern: `…` is any text on its line; a line of `…` is any lines. */
function outputPattern(expected: string[]): RegExp {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const lines = expected.map((line) =>
    line.trim() === '…' ? '(?:[^\\n]*\\n)*?' : `${line.split('…').map(literal).join('[^\\n]*?')}\\n`,
  );
  return new RegExp(`^${lines.join('')}$`);
}

describe('documented shell blocks marked runnable', () => {
  const blocks: Block[] = [];
  let work: string;
  let bin: string;
  let server: CliProcess;
  let port: number;

  beforeAll(async () => {
    for (const file of await markdownFiles())
      blocks.push(...runnableBlocks(file, await readFile(file, 'utf8')));
    work = await mkdtemp(join(tmpdir(), 'docs-runnable-'));
    bin = join(work, 'bin');
    await mkdir(bin);
    // curl as a terminal user sees it: no progress meter, errors shown.
    await writeFile(join(work, '.curlrc'), 'silent\nshow-error\n');
    // `ncr-upload` as an installed package provides it, here from the sources.
    const shim = join(bin, 'ncr-upload');
    await writeFile(
      shim,
      `#!/bin/sh\nTSX_TSCONFIG_PATH="${join(repository, 'tsconfig.json')}" exec "${process.execPath}" --import "${tsxLoader}" "${cliPath}" "$@"\n`,
    );
    await chmod(shim, 0o755);
    port = await freePort();
    server = runCli(['serve'], {
      cwd: work,
      env: { API_PORT: String(port), DATA_DIR: join(work, 'data'), SAMPLE_JOB: 'no', LOG_LEVEL: 'silent' },
    });
    await server.waitFor(/ncr-upload serving on/, 60_000);
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await rm(work, { recursive: true, force: true });
  });

  it('finds the marked blocks', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) expect(block.steps.length, `${block.file}:${block.line}`).toBeGreaterThan(0);
  });

  it('each command prints what the docs say it prints', async () => {
    const differences: string[] = [];
    for (const block of blocks) {
      for (const step of block.steps) {
        const command = step.command.replace(/(localhost|127\.0\.0\.1):8001/g, `127.0.0.1:${port}`);
        const result = await run('bash', ['-c', `${command} 2>&1`], {
          cwd: work,
          env: {
            PATH: `${bin}:${process.env.PATH}`,
            HOME: work,
            CURL_HOME: work,
            DATA_DIR: join(work, 'data'),
          },
          timeout: 60_000,
        }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
        const actual =
          result.stdout.endsWith('\n') || result.stdout === '' ? result.stdout : `${result.stdout}\n`;
        if (!outputPattern(step.expected).test(actual)) {
          differences.push(
            `${relative(repository, block.file)}:${block.line}: ${step.command}\n--- documented\n${step.expected.join('\n')}\n--- printed\n${actual}`,
          );
        }
      }
    }
    expect(differences.join('\n')).toBe('');
  });
});
