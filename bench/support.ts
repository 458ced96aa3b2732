/**
 * Shared helpers of the per-job benchmarks (tiny.ts, http.ts): CPU and peak
 * memory of whole process trees read from /proc, child processes that report
 * one JSON line, and the tiny job's files.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { link, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '@ncr-upload/test-kit/net';

export const root = new URL('..', import.meta.url).pathname;
const TICKS_PER_SECOND = 100;

/** Command-line `--name value`, else the fallback. */
export const argument = (name: string, fallback: string): string => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};

export const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

async function readStat(pid: number): Promise<{ ppid: number; cpuMs: number } | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus cutime + cstime: children that ended and were reaped (Celery's
    // prefork children recycled after max-tasks-per-child) stay counted in their parent.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { ppid: Number(fields[1]), cpuMs: (ticks * 1000) / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** The pid and every descendant living now. */
export async function processTree(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    const child = Number(name);
    if (!Number.isInteger(child)) continue;
    const stat = await readStat(child);
    if (!stat) continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), child]);
  }
  const found: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const next = stack.pop() as number;
    found.push(next);
    stack.push(...(children.get(next) ?? []));
  }
  return found;
}

/** CPU time (user + system) used so far by the given processes and their reaped children, in ms. */
export async function cpuMsOf(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += (await readStat(pid))?.cpuMs ?? 0;
  return total;
}

/** Peak resident memory (VmHWM) of one process, in MB. */
export async function peakRssMb(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

/** A child that prints `READY` when started and JSON lines after. */
export interface ReportingChild {
  child: ChildProcess;
  /** Resolves with the next line starting with `prefix` (the rest of it). */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  /** Wait up to `graceMs` for the child to exit by itself (told by STOP), then SIGTERM, then SIGKILL. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnReporting(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { quiet?: boolean } = {},
): ReportingChild {
  const child = spawn(command, args, { env, cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let index = buffer.indexOf('\n');
    while (index >= 0) {
      lines.push(buffer.slice(0, index));
      buffer = buffer.slice(index + 1);
      index = buffer.indexOf('\n');
    }
    for (const waiter of waiters.splice(0)) waiter();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    if (!options.quiet) process.stderr.write(chunk);
  });
  child.on('exit', () => {
    for (const waiter of waiters.splice(0)) waiter();
  });
  return {
    child,
    async line(prefix, timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = lines.findIndex((line) => line.startsWith(prefix));
        if (index >= 0) {
          const [found] = lines.splice(index, 1);
          return (found as string).slice(prefix.length);
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `${command} exited (${child.exitCode ?? child.signalCode}): ${stderr.slice(-2000)}`,
          );
        }
        if (Date.now() > deadline) throw new Error(`${command}: no "${prefix}" line in time`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async stop(graceMs = 0) {
      const exited = () => child.exitCode !== null || child.signalCode !== null;
      // A child told to stop (STOP on stdin) gets a moment to exit by itself (and write its profile).
      for (let waited = 0; waited < graceMs && !exited(); waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (exited()) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await once(child, 'exit');
      clearTimeout(killer);
    },
  };
}

/** The jobs of the tiny benchmark, by index. */
export const tinyJob = (index: number) => ({
  job_id: `tiny-${String(index).padStart(5, '0')}`,
  username: 'bench',
  campaign: 'tiny',
  row_id: index,
});

/** The tiny job: 3 files of 64 KB (random, so zip stores them). */
export const TINY_FILES = ['a/one.bin', 'b/two.bin', 'three.bin'];
export const TINY_FILE_BYTES = 64 * 1024;

/**
 * Lay out `count` tiny jobs below `storageRoot/<campaign>/<username>/<job_id>/`
 * (the embedded prefix catalog's layout). Every job's files are hard links to
 * one set, so 2,000 jobs cost 192 KB of disk.
 */
export async function seedTinyJobs(
  storageRoot: string,
  count: number,
  job: (index: number) => { job_id: string; username: string; campaign: string },
): Promise<void> {
  const originals = join(storageRoot, '.originals');
  await mkdir(originals, { recursive: true });
  const { randomBytes } = await import('node:crypto');
  for (const [index] of TINY_FILES.entries()) {
    await writeFile(join(originals, String(index)), randomBytes(TINY_FILE_BYTES));
  }
  for (let index = 0; index < count; index += 1) {
    const { job_id, username, campaign } = job(index);
    const folder = join(storageRoot, campaign, username, job_id);
    for (const [fileIndex, name] of TINY_FILES.entries()) {
      const target = join(folder, name);
      await mkdir(join(target, '..'), { recursive: true });
      await link(join(originals, String(fileIndex)), target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
  }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** The q-quantile (0..1) of values, nearest rank. */
export const quantile = (values: number[], q: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
};

/** A private redis-server (nothing saved to disk) whose pid we know, for its CPU time. */
export interface BenchRedis {
  url: string;
  child: ChildProcess;
  /** Empty the server and reset its command counts. */
  flush(): void;
  /** Calls per command since the last flush (INFO commandstats). */
  commands(): Record<string, number>;
}

export async function startBenchRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: 'ignore' },
  );
  for (let tries = 0; tries < 100; tries += 1) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const cli = (...args: string[]) =>
    execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  return {
    url: `redis://127.0.0.1:${port}`,
    child,
    flush: () => {
      cli('flushall');
      cli('config', 'resetstat');
    },
    commands: () => {
      const counts: Record<string, number> = {};
      for (const match of cli('info', 'commandstats').matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
        counts[match[1] as string] = Number(match[2]);
      }
      return counts;
    },
  };
}
