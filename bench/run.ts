/**
 * Benchmark: one job through ncr-upload against the same work done by the
 * standard tools (rclone → zip → curl → OpenSSH sftp), side by side, on the
 * same servers (s3rver, the reference validator, OpenSSH sshd) and data.
 *
 *   npm run bench -- --sizes 100,400 --files 20 [--variants main,thread] [--text] [--cpu-prof dir]
 *                    [--leg-rounds 3 | --no-legs] [--no-script] [--repeat 1] [--fetch-concurrency 4]
 *
 * Reports wall time, throughput, peak RSS and the ratio to the script per
 * chain, and ours as a time line: each stage's first start and last end
 * (they overlap in the single pass), the main thread's busy share and the
 * process's CPU. `--variants main,thread` also runs ours with the SFTP upload
 * on its worker thread (`uploadThread: true`). `--text` makes the files CSV text and
 * runs ours with `compression: 'auto'` (the script keeps `zip -0`).
 * Memory should stay flat as the job grows: compare the sizes.
 *
 * Then the legs on the same files and servers (bench/legs.ts): S3 read vs a
 * plain SDK drain, zip vs `zip -0`, streamed SFTP upload vs OpenSSH, in
 * interleaved rounds (`--leg-rounds`, default 3; `--no-legs` skips them).
 * `--no-script` runs ours only (no ratio), `--repeat N` runs each variant N
 * times in a row (peak RSS and CPU of ours as a spread, e.g. against job size).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@ncr-upload/test-kit/net';
import { startS3rver } from '@ncr-upload/test-kit/s3rver';
import { startSshd } from '@ncr-upload/test-kit/sshd';
import { sftpArgs } from './leg-timing.js';
import { legRows, runLegs } from './legs.js';
import { cpuMsOf } from './support.js';

interface Measured {
  seconds: number;
  peakRssMb: number;
  /** User + system CPU of the command and its children, seconds. */
  cpuSeconds: number;
  output: string;
}

const argument = (name: string, fallback: string) => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};
const sizesMb = argument('sizes', '100,400').split(',').map(Number);
const fileCount = Number(argument('files', '20'));
const variants = argument('variants', 'main').split(',');
const text = process.argv.includes('--text');
/** `--cpu-prof <dir>`: a V8 profile of each of our runs, per thread (read with bench/profile-top.ts). */
const profileDir = argument('cpu-prof', '');
const legRounds = process.argv.includes('--no-legs') ? 0 : Number(argument('leg-rounds', '3'));
const runScript = !process.argv.includes('--no-script');
const repeat = Number(argument('repeat', '1'));
/** `--node-flags "--max-semi-space-size=4"`: extra Node flags for our process only (experiments). */
const nodeFlags = argument('node-flags', '').split(' ').filter(Boolean);
/** Downloads at once in our job (the library's default is 4). */
const fetchConcurrency = Number(argument('fetch-concurrency', '4'));
const root = new URL('..', import.meta.url).pathname;

/** Run a command under GNU time; resolves with wall seconds and peak RSS. */
async function measure(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Measured> {
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', 'NCR_MAXRSS_KB=%M NCR_CPU=%U+%S', command, ...args], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${command} exited with ${code}: ${stderr.slice(-2000)}`);
  const rss = /NCR_MAXRSS_KB=(\d+)/.exec(stderr);
  const cpu = /NCR_CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
  return {
    seconds,
    peakRssMb: Math.round(Number(rss?.[1] ?? 0) / 1024),
    cpuSeconds: Number(cpu?.[1] ?? 0) + Number(cpu?.[2] ?? 0),
    output: stdout,
  };
}

async function writeRandomFile(path: string, bytes: number) {
  const out = createWriteStream(path);
  const block = 4 * 1024 * 1024;
  for (let written = 0; written < bytes; written += block) {
    if (!out.write(randomBytes(Math.min(block, bytes - written)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** CSV-like text: compressible the way exports are, not a repeated block. */
async function writeTextFile(path: string, bytes: number) {
  const out = createWriteStream(path);
  let written = 0;
  let row = 0;
  while (written < bytes) {
    const lines: string[] = [];
    for (let index = 0; index < 2000; index += 1, row += 1) {
      const value = randomBytes(6).toString('hex');
      lines.push(
        `${row},user-${row % 9973},${value},${(row * 7919) % 100000}.${row % 100},2026-12-0${row % 9}\n`,
      );
    }
    const block = Buffer.from(lines.join('')).subarray(0, bytes - written);
    written += block.length;
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** `stage start–end` and a bar per stage, in seconds from the job's start. */
function timeline(spans: Record<string, [number, number]>, totalMs: number): string[] {
  const width = 60;
  const scale = width / Math.max(totalMs, 1);
  return Object.entries(spans)
    .sort(([, a], [, b]) => a[0] - b[0])
    .map(([name, [start, end]]) => {
      const from = Math.min(width - 1, Math.floor(start * scale));
      const to = Math.max(from + 1, Math.min(width, Math.ceil(end * scale)));
      const bar = `${' '.repeat(from)}${'#'.repeat(to - from)}${' '.repeat(width - to)}`;
      return `${name.padEnd(11)} |${bar}| ${(start / 1000).toFixed(2)}–${(end / 1000).toFixed(2)} s`;
    });
}

const loadAverage = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

async function startValidator(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'examples/validator-server/server.mjs')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let tries = 0; tries < 100; tries += 1) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url: `http://127.0.0.1:${port}/validate`, child };
}

interface OurResult {
  state: string;
  error?: unknown;
  seconds: number;
  timeline: Record<string, [number, number]>;
  main_thread_busy: number;
  cpu_seconds: number;
  bytes: number;
  /** memoryUsage() at the highest RSS its 250 ms sampler saw, in MB. */
  at_peak_mb?: Record<string, number>;
  /** When that was, in seconds from the job's start. */
  at_peak_s?: number;
  /** Seconds the pass waited on the SFTP upload's writes and with the validator's body full. */
  waited_s?: { sftp: number; validator: number };
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'ncr-bench-'));
  const [s3, sshd, validator] = await Promise.all([startS3rver(), startSshd(), startValidator()]);
  /**
   * CPU of the servers, ms: s3rver, the validator and sshd (its ended
   * sessions are counted in the listener). Read after a chain's sessions ended.
   */
  const serversCpu = async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [s3rverMs, validatorMs, sshdMs] = await Promise.all([
      cpuMsOf(s3.pid === undefined ? [] : [s3.pid]),
      cpuMsOf([validator.child.pid as number]),
      cpuMsOf(sshd.pid === undefined ? [] : [sshd.pid]),
    ]);
    return { s3rver: s3rverMs, validator: validatorMs, sshd: sshdMs };
  };
  type ServersCpu = Awaited<ReturnType<typeof serversCpu>>;
  const spent = (before: ServersCpu, after: ServersCpu) => ({
    s3rver: (after.s3rver - before.s3rver) / 1000,
    validator: (after.validator - before.validator) / 1000,
    sshd: (after.sshd - before.sshd) / 1000,
  });
  const everything = (own: number, servers: ReturnType<typeof spent>) => {
    const total = own + servers.s3rver + servers.validator + servers.sshd;
    return `CPU of everything ${total.toFixed(1)} s (the chain ${own.toFixed(1)}, s3rver ${servers.s3rver.toFixed(1)}, validator ${servers.validator.toFixed(1)}, sshd ${servers.sshd.toFixed(1)}), at least ${(total / 2).toFixed(1)} s on 2 cores`;
  };
  const keyFile = join(work, 'id_ed25519');
  await writeFile(keyFile, sshd.privateKey);
  await chmod(keyFile, 0o600);
  await s3.createBucket('bench');
  const lines: string[] = [
    row(['job size', 'chain', 'seconds', 'MB/s', 'peak RSS MB', 'ratio to the script', 'detail']),
    row(['---', '---', '---', '---', '---', '---', '---']),
  ];
  const lines2: string[] = [];
  const legLines: string[] = [
    row([
      'job size',
      'leg',
      'ours (each round)',
      'reference (each round)',
      'ratio of times, median',
      'CPU ours / reference (median)',
    ]),
    row(['---', '---', '---', '---', '---', '---']),
  ];
  const loads: string[] = [`load average at start: ${await loadAverage()}`];
  try {
    for (const sizeMb of sizesMb) {
      const job = { job_id: `bench-${sizeMb}`, username: 'bench', campaign: 'perf' };
      const prefix = `${job.campaign}/${job.username}/${job.job_id}/`;
      const source = join(work, `source-${sizeMb}`);
      await mkdir(source, { recursive: true });
      const perFile = Math.floor((sizeMb * 1024 * 1024) / fileCount);
      for (let index = 0; index < fileCount; index += 1) {
        const name = `file-${String(index).padStart(3, '0')}.${text ? 'csv' : 'bin'}`;
        const path = join(source, name);
        await (text ? writeTextFile : writeRandomFile)(path, perFile);
        await s3.putObject('bench', `${prefix}${name}`, createReadStream(path), perFile);
      }
      const total = perFile * fileCount;
      const mbps = (seconds: number) => (total / 1048576 / seconds).toFixed(0);

      // ncr-upload, with built dist, in its own process; one run per variant.
      const ourRuns: {
        variant: string;
        measured: Measured;
        result: OurResult;
        servers: ReturnType<typeof spent>;
      }[] = [];
      const runs = variants.flatMap((name) =>
        Array.from({ length: repeat }, (_, index) => ({ name, index })),
      );
      for (const { name: variant, index: runIndex } of runs) {
        const config = {
          s3: { endpoint: s3.endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', bucket: 'bench' },
          sftp: {
            host: sshd.host,
            port: sshd.port,
            username: sshd.username,
            privateKey: sshd.privateKey,
            hostFingerprint: sshd.hostFingerprint,
          },
          uploadThread: variant === 'thread',
          fetchConcurrency,
          ...(text ? { compression: 'auto' } : {}),
          validatorUrl: validator.url,
          prefix,
          job: { ...job, job_id: `${job.job_id}-${variant}-${runIndex}` },
          remotePath: `ours-${sizeMb}.zip`,
          workDir: join(work, 'ours'),
        };
        const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, variant)}`] : [];
        const serversBefore = await serversCpu();
        const measured = await measure(
          process.execPath,
          [...nodeFlags, ...profile, join(root, 'bench/ours.mjs')],
          {
            env: {
              ...process.env,
              NCR_BENCH_CONFIG: JSON.stringify(config),
              AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
            },
          },
        );
        // The last JSON line: Node flags such as --trace-gc print to the same stdout.
        const json = measured.output.split('\n').filter((line) => line.startsWith('{'));
        const result = JSON.parse(json.at(-1) ?? '{}') as OurResult;
        if (result.state !== 'succeeded') throw new Error(`ours failed: ${JSON.stringify(result.error)}`);
        ourRuns.push({ variant, measured, result, servers: spent(serversBefore, await serversCpu()) });
        loads.push(`after ours (${variant}, ${sizeMb} MB): ${await loadAverage()}`);
      }

      // The same work with standard tools, one after another.
      const local = join(work, `std-${sizeMb}`);
      await mkdir(join(local, 'files'), { recursive: true });
      const rcloneEnv = { ...process.env };
      delete rcloneEnv.AWS_CA_BUNDLE;
      const steps: [string, Measured][] = [];
      const scriptServersBefore = await serversCpu();
      if (runScript) {
        steps.push([
          'rclone copy',
          await measure(
            'rclone',
            [
              'copy',
              '--s3-provider=Other',
              `--s3-endpoint=${s3.endpoint}`,
              '--s3-access-key-id=S3RVER',
              '--s3-secret-access-key=S3RVER',
              '--s3-force-path-style',
              `:s3:bench/${prefix}`,
              join(local, 'files'),
            ],
            { env: rcloneEnv },
          ),
        ]);
        steps.push([
          'zip -0',
          await measure('zip', ['-0', '-r', '-q', join(local, 'out.zip'), '.'], {
            cwd: join(local, 'files'),
          }),
        ]);
        steps.push([
          'curl -T',
          await measure('curl', [
            '-sS',
            '-f',
            '-X',
            'POST',
            '-T',
            join(local, 'out.zip'),
            '-H',
            'Content-Type: application/zip',
            `${validator.url}?job_id=${job.job_id}`,
          ]),
        ]);
        const batch = join(local, 'batch');
        await writeFile(
          batch,
          `-rm std-${sizeMb}.zip\nput ${join(local, 'out.zip')} std-${sizeMb}.zip.partial\nrename std-${sizeMb}.zip.partial std-${sizeMb}.zip\n`,
        );
        steps.push(['sftp put', await measure('sftp', sftpArgs(sshd, keyFile, batch))]);
      }
      const seconds = steps.reduce((sum, [, step]) => sum + step.seconds, 0);
      const scriptServers = spent(scriptServersBefore, await serversCpu());
      const scriptCpu = steps.reduce((sum, [, step]) => sum + step.cpuSeconds, 0);
      loads.push(`after the script (${sizeMb} MB): ${await loadAverage()}`);
      const peak = Math.max(...steps.map(([, step]) => step.peakRssMb));
      const detail = steps
        .map(([name, step]) => `${name} ${step.seconds.toFixed(2)}s/${step.peakRssMb}MB`)
        .join(', ');
      for (const { variant, measured, result, servers } of ourRuns) {
        const busy = `main thread busy ${(result.main_thread_busy * 100).toFixed(0)} %, CPU ${result.cpu_seconds.toFixed(1)} s`;
        const memory = result.at_peak_mb
          ? `; at peak RSS (${result.at_peak_s?.toFixed(1)} s): heap ${result.at_peak_mb.heapUsed}/${result.at_peak_mb.heapTotal} MB, external ${result.at_peak_mb.external} MB (buffers ${result.at_peak_mb.arrayBuffers})`
          : '';
        lines.push(
          row([
            `${sizeMb} MB${text ? ' CSV' : ''}`,
            `ncr-upload, upload on the ${variant === 'main' ? 'main thread' : 'upload thread'}`,
            measured.seconds.toFixed(2),
            mbps(measured.seconds),
            measured.peakRssMb,
            runScript ? (measured.seconds / seconds).toFixed(2) : '–',
            `${busy}; zip ${result.bytes} bytes${memory}; ${everything(measured.cpuSeconds, servers)}`,
          ]),
        );
        const waited = result.waited_s
          ? `; the pass waited ${result.waited_s.sftp.toFixed(1)} s on SFTP writes, the validator's body was full ${result.waited_s.validator.toFixed(1)} s`
          : '';
        lines2.push(
          `${sizeMb} MB, ours (${variant}), ${result.seconds.toFixed(2)} s in the process${waited}:`,
          ...timeline(result.timeline, result.seconds * 1000),
          '',
        );
      }
      if (runScript) {
        lines.push(
          row([
            `${sizeMb} MB${text ? ' CSV' : ''}`,
            'rclone → zip -0 → curl → sftp',
            seconds.toFixed(2),
            mbps(seconds),
            peak,
            '1.00',
            `${detail}; ${everything(scriptCpu, scriptServers)}`,
          ]),
        );
        let at = 0;
        const scriptSpans: Record<string, [number, number]> = {};
        for (const [name, step] of steps) {
          scriptSpans[name] = [at, at + step.seconds * 1000];
          at += step.seconds * 1000;
        }
        lines2.push(`${sizeMb} MB, the script:`, ...timeline(scriptSpans, at), '');
        await stat(join(sshd.root, `ours-${sizeMb}.zip`));
        lines.push(
          row([
            `${sizeMb} MB`,
            '(zip -0 size)',
            '',
            '',
            '',
            '',
            `${(await stat(join(local, 'out.zip'))).size} bytes`,
          ]),
        );
      }
      await rm(local, { recursive: true, force: true });
      if (legRounds > 0) {
        const names = Array.from(
          { length: fileCount },
          (_, index) => `file-${String(index).padStart(3, '0')}.${text ? 'csv' : 'bin'}`,
        );
        const legs = await runLegs({
          s3: {
            endpoint: s3.endpoint,
            bucket: 'bench',
            prefix,
            keys: names.map((name) => `${prefix}${name}`),
          },
          sshd,
          keyFile,
          source,
          names,
          work,
          rounds: legRounds,
        });
        legLines.push(...legRows(sizeMb, legs).map(row));
        loads.push(`after the legs (${sizeMb} MB): ${await loadAverage()}`);
      }
      await rm(source, { recursive: true, force: true });
    }
  } finally {
    validator.child.kill();
    await Promise.allSettled([s3.stop(), sshd.stop()]);
    await rm(work, { recursive: true, force: true });
  }
  console.log(`\n${fileCount} files per job, ${new Date().toISOString()}\n`);
  console.log(lines.join('\n'));
  console.log(`\nTime lines (first start and last end of each stage, from the job's start):\n`);
  console.log(lines2.join('\n'));
  if (legRounds > 0) console.log(`Legs (${legRounds} interleaved rounds each):\n\n${legLines.join('\n')}\n`);
  console.log(loads.join('\n'));
}

await main();
