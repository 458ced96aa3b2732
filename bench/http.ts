/**
 * Benchmark: submission under load. The built CLI's `ncr-upload serve` (API
 * and workers in one process, plain node on dist: run `npm run build` first)
 * takes POST /process-job at a fixed rate (default 1,000/s for 20 s, open
 * loop, latency from each request's due time) while the submitted tiny jobs
 * run, on embedded defaults and on Redis + BullMQ. `BENCH_WORKERS=0` runs
 * `ncr-upload api` instead: the API alone.
 *
 *   npm run bench
 *   tsx bench/http.ts --rate 1000 --seconds 20 [--only redis] [--guard both|on|off] [--floor no] [--cpu-prof <dir>]
 *                     [--seeded N] [--warmup S] [--node-flags "--max-semi-space-size=16"] [--sockets N]
 *
 * Every request names its own job, seeded in the storage folder beforehand
 * (`--seeded`, default one per request), so every submitted job runs in full.
 *
 * `--warmup S` sends at the same rate for S seconds first and reports those
 * requests apart: the figures then describe a server past its first seconds
 * (code not yet optimised by V8 and the first Redis round trips make a fresh
 * process slower than the rate for a moment, and the backlog from that moment
 * can hold the whole p99). Default 0: the measured seconds start cold.
 *
 * `--sockets N` caps the generator's keep-alive connections (default 512): a
 * request due while every connection is busy opens a new one up to the cap,
 * so a server that falls behind at the start gets hundreds of new connections
 * at once. The tail line says how many were opened.
 *
 * With workers, each mode runs twice by default: with the jobs' bounded share
 * of the event loop (`SERVE_MAX_LOOP_DELAY_MS`, default 5) and without it (0).
 *
 * First, a floor: a plain node:http server that only reads the body and
 * answers (bench/http-floor.ts), so the same run shows what the machine
 * allows at that moment (`--floor no` skips it).
 *
 * Reports latency percentiles, errors, the server's CPU (in all and per
 * request), the load generator's own CPU, Redis's CPU per request (Redis
 * mode), the server's peak RSS with every accepted task recorded, and the
 * load average.
 */
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@ncr-upload/test-kit/net';
import {
  argument,
  cpuMsOf,
  peakRssMb,
  root,
  row,
  seedTinyJobs,
  spawnReporting,
  startBenchRedis,
} from './support.js';

const rate = Number(argument('rate', '1000'));
const seconds = Number(argument('seconds', '20'));
const warmupSeconds = Number(argument('warmup', '0'));
/** Jobs seeded in the storage folder: by default one per request, so every submitted job runs in full (none fails for want of files). */
const seeded = Number(argument('seeded', String(rate * (seconds + warmupSeconds))));
const profileDir = argument('cpu-prof', '');
/** `--node-flags "--max-semi-space-size=16"`: extra Node flags for the server process only (experiments). */
const nodeFlags = argument('node-flags', '').split(' ').filter(Boolean);
const only = argument('only', '');
/** The load generator's most keep-alive connections at once. */
const sockets = argument('sockets', '512');
const withWorkers = process.env.BENCH_WORKERS !== '0';
const guard = argument('guard', 'both');
/** The loop-delay limits to run `serve` with: off (0) and the default (unset). */
const guardVariants: { label: string; env: NodeJS.ProcessEnv }[] = !withWorkers
  ? [{ label: 'api alone', env: {} }]
  : [
      ...(guard === 'on' ? [] : [{ label: 'loop share off', env: { SERVE_MAX_LOOP_DELAY_MS: '0' } }]),
      ...(guard === 'off' ? [] : [{ label: 'loop share on (default)', env: {} }]),
    ];

interface Outcome {
  mode: string;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: Record<string, number>;
  requests: number;
  cpuMs: number;
  /** CPU of the load generator over the run, ms: it must not be the bottleneck. */
  clientCpuMs: number;
  /** CPU of redis-server over the run, ms (Redis mode only). */
  redisCpuMs: number | null;
  rssMb: number;
  /** Load average (1 min) when the run ended. */
  load: string;
  /** The load generator's own longest event-loop stall, ms. */
  clientLoopDelayMaxMs: number;
  /** Connections the load generator opened over the run (at most `--sockets` open at once; an idle one closed after 4 s is opened again). */
  connections: number;
  /** How many 100 ms windows (by due time) held a request slower than the p99. */
  windowsAboveP99: number;
  /** The five 100 ms windows whose requests waited longest. */
  worstWindows: { at_s: number; max_ms: number; above_p99: number }[];
  /** The warm-up's requests (`--warmup`), reported apart. */
  warmup: { requests: number; p50: number; p99: number; max: number } | null;
}

async function runMode(
  mode: 'embedded' | 'redis' | 'floor',
  variant: (typeof guardVariants)[number],
  dataDir: string,
  redisUrl: string | null,
  round: number,
  redisPid: number | null,
): Promise<Outcome> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...variant.env,
    // Each run on its own keys: the same job ids again would only find their earlier tasks.
    REDIS_PREFIX: `bench-http-${round}`,
    API_HOST: '127.0.0.1',
    API_PORT: String(port),
    DATA_DIR: dataDir,
    WORK_DIR: join(dataDir, `work-${mode}-${round}`),
    SAMPLE_JOB: 'false',
    MAX_MEMORY_USAGE_PERCENT: '99',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
  };
  const profile = profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, `http-${mode}-${round}`)}`]
    : [];
  const command = withWorkers ? 'serve' : 'api';
  const cli = join(root, 'packages', 'worker-runner', 'dist', 'cli.js');
  // An empty env file: a developer's .env in the checkout must not change the bench.
  const envFile = join(dataDir, 'bench.env');
  await writeFile(envFile, '');
  const server =
    mode === 'floor'
      ? spawnReporting(process.execPath, ['--import', 'tsx', join(root, 'bench', 'http-floor.ts')], env)
      : spawnReporting(
          process.execPath,
          [...nodeFlags, ...profile, cli, command, '--env-file', envFile],
          env,
        );
  // The server logs every request: the reporting child drains its output so the pipe never blocks it.
  try {
    await server.line(withWorkers && mode !== 'floor' ? 'ncr-upload serving on' : 'ncr-upload API on');
    const pid = server.child.pid as number;
    let before = await cpuMsOf([pid]);
    let redisBefore = redisPid === null ? null : await cpuMsOf([redisPid]);
    const load = spawnReporting(process.execPath, ['--import', 'tsx', join(root, 'bench', 'http-load.ts')], {
      ...process.env,
      BENCH_URL: `http://127.0.0.1:${port}/process-job`,
      BENCH_RATE: String(rate),
      BENCH_SECONDS: String(seconds),
      BENCH_WARMUP_SECONDS: String(warmupSeconds),
      BENCH_SOCKETS: sockets,
    });
    if (warmupSeconds > 0) {
      // CPU counts from the first measured request on.
      await load.line('MEASURING');
      before = await cpuMsOf([pid]);
      redisBefore = redisPid === null ? null : await cpuMsOf([redisPid]);
    }
    // The generator's result carries its own CPU over the sending (clientCpuMs).
    const result = JSON.parse(await load.line('RESULT '));
    await load.stop();
    const cpuMs = (await cpuMsOf([pid])) - before;
    const redisCpuMs =
      redisBefore === null || redisPid === null ? null : (await cpuMsOf([redisPid])) - redisBefore;
    const rssMb = await peakRssMb(pid);
    const loadAverage = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0] ?? '';
    const label = mode === 'floor' ? 'floor: plain node:http, nothing else' : `${mode}, ${variant.label}`;
    return { mode: label, ...result, cpuMs, redisCpuMs, rssMb, load: loadAverage };
  } finally {
    // SIGTERM: the CLI drains and exits by itself (which also writes its CPU profile).
    server.child.kill('SIGTERM');
    await server.stop(30_000);
  }
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'ncr-bench-http-'));
  const dataDir = join(work, 'data');
  await mkdir(dataDir, { recursive: true });
  await seedTinyJobs(join(dataDir, 'storage'), seeded, (index) => ({
    job_id: `http-${String(index).padStart(6, '0')}`,
    username: 'bench',
    campaign: 'http',
  }));
  const redis = await startBenchRedis();
  const outcomes: Outcome[] = [];
  try {
    let round = 0;
    if (argument('floor', 'yes') !== 'no') {
      // What the machine allows now: a server that only reads the body and answers.
      round += 1;
      outcomes.push(await runMode('floor', { label: '', env: {} }, dataDir, null, round, null));
    }
    for (const mode of ['embedded', 'redis'] as const) {
      if (only && mode !== only) continue;
      for (const variant of guardVariants) {
        round += 1;
        outcomes.push(
          await runMode(
            mode,
            variant,
            dataDir,
            mode === 'redis' ? redis.url : null,
            round,
            mode === 'redis' ? (redis.child.pid ?? null) : null,
          ),
        );
        process.stderr.write(`http ${outcomes.at(-1)?.mode}: p99 ${outcomes.at(-1)?.p99.toFixed(1)} ms\n`);
      }
    }
  } finally {
    redis.child.kill('SIGTERM');
    await once(redis.child, 'exit');
    await rm(work, { recursive: true, force: true });
  }
  const lines = [
    `\n### Submission: POST /process-job at ${rate}/s for ${seconds} s${warmupSeconds > 0 ? ` after ${warmupSeconds} s of warm-up at the same rate` : ''}, open loop, ${withWorkers ? '`serve` running the jobs' : '`api` alone'}, ${new Date().toISOString()}\n`,
    row([
      'mode',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'errors',
      'server CPU',
      'server CPU per request',
      'client CPU',
      'Redis CPU per request',
      'server peak RSS MB',
      'load',
    ]),
    row(['---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---']),
  ];
  for (const outcome of outcomes) {
    const errorCount = Object.values(outcome.errors).reduce((sum, count) => sum + count, 0);
    lines.push(
      row([
        outcome.mode,
        outcome.p50.toFixed(1),
        outcome.p90.toFixed(1),
        outcome.p99.toFixed(1),
        outcome.max.toFixed(0),
        errorCount === 0
          ? `0 of ${outcome.requests}`
          : `${errorCount} of ${outcome.requests} ${JSON.stringify(outcome.errors)}`,
        `${((outcome.cpuMs / (seconds * 1000)) * 100).toFixed(0)}% of a core`,
        `${(outcome.cpuMs / outcome.requests).toFixed(3)} ms`,
        `${((outcome.clientCpuMs / (seconds * 1000)) * 100).toFixed(0)}%`,
        outcome.redisCpuMs === null ? '–' : `${(outcome.redisCpuMs / outcome.requests).toFixed(3)} ms`,
        `${outcome.rssMb} (${outcome.requests - errorCount} tasks recorded)`,
        outcome.load,
      ]),
    );
  }
  console.log(lines.join('\n'));
  // The tail's shape: a stall shows as a few windows holding the slowest requests; queueing spreads them.
  console.log(
    "\nWhere the tail was (100 ms windows by due time; the generator's own longest loop stall; the connections it opened):\n",
  );
  for (const outcome of outcomes) {
    const worst = outcome.worstWindows.map((window) => `${window.at_s} s: ${window.max_ms} ms`).join(', ');
    console.log(
      `- ${outcome.mode}: requests above p99 in ${outcome.windowsAboveP99} of ${seconds * 10} windows; ` +
        `slowest at ${worst}; generator stall ${outcome.clientLoopDelayMaxMs.toFixed(0)} ms; ` +
        `${outcome.connections} connections (cap ${sockets})` +
        (outcome.warmup
          ? `; the ${warmupSeconds} s warm-up before: p50 ${outcome.warmup.p50.toFixed(1)}, p99 ${outcome.warmup.p99.toFixed(1)}, max ${outcome.warmup.max.toFixed(0)} ms`
          : ''),
    );
  }
}

await main();
