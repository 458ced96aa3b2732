/**
 * Benchmark: many small jobs. BENCH_JOBS (default 2,000) jobs of 3 files ×
 * 64 KB → zip → built-in validator → folder outbox, submitted in a burst, run
 * side by side in one run:
 *
 * - ncr-upload in-process (embedded defaults, 4 concurrent tasks), the built
 *   packages through plain node (run `npm run build` first);
 * - ncr-upload on Redis + BullMQ with 1 and 2 `worker` processes (4 each),
 *   submitted by an API-side process;
 * - raw BullMQ no-op jobs on the same Redis (the queue's own cost);
 * - Celery (prefork × 2, Redis broker and result backend) doing the same work
 *   in Python, when python3-celery is installed.
 *
 *   npm run bench           (all cases)
 *   tsx bench/tiny.ts --jobs 500 --runs 1 [--only in-process,celery] [--cpu-prof <dir>]
 *
 * Reports jobs/s (median of the runs), CPU per job (every process of the
 * mode, Redis included) and peak RSS. Read the ratios: the machine is shared.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  argument,
  type BenchRedis,
  cpuMsOf,
  median,
  peakRssMb,
  processTree,
  type ReportingChild,
  root,
  row,
  seedTinyJobs,
  spawnReporting,
  startBenchRedis,
  tinyJob,
} from './support.js';

const jobCount = Number(argument('jobs', process.env.BENCH_JOBS ?? '2000'));
const runs = Number(argument('runs', '3'));
const profileDir = argument('cpu-prof', '');
const only = argument('only', '');
const builtWorkers = argument('workers', 'built') === 'built';
/**
 * `--warm 1`: each case runs the same jobs once unmeasured first (code compiled by V8, caches
 * and pools filled), then the measured run: a long-running deployment's steady state.
 */
const warm = argument('warm', '0') === '1';

interface Measured {
  jobs: number;
  seconds: number;
  cpuMs: number;
  rssMb: number;
  detail: string;
}

/** Node child running a bench script through tsx (sources, tsconfig paths). */
function nodeChild(script: string, args: string[], env: NodeJS.ProcessEnv, label: string): ReportingChild {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, label)}`] : [];
  return spawnReporting(
    process.execPath,
    [...profile, '--import', 'tsx', join(root, 'bench', script), ...args],
    env,
  );
}

/** CPU ms of the main threads (event loops) of the given processes (Linux; 0 elsewhere). */
async function mainThreadMs(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // Not Linux, or the process is gone.
    }
  }
  return total;
}

/** The `ncr-upload worker` command of the built packages through plain node, as users run it. */
function builtWorker(env: NodeJS.ProcessEnv, label: string): ReportingChild {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, label)}`] : [];
  return spawnReporting(
    process.execPath,
    [...profile, join(root, 'packages', 'worker-runner', 'dist', 'cli.js'), 'worker'],
    env,
  );
}

function baseEnv(dataDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATA_DIR: dataDir,
    WORK_DIR: join(dataDir, 'work'),
    SAMPLE_JOB: 'false',
    MAX_MEMORY_USAGE_PERCENT: '99',
    BENCH_JOBS: String(jobCount),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
  };
}

/** "event loop X ms/job, other threads Y ms/job; " from an in-process result (Linux), else "". */
function threadSplit(result: {
  jobs: number;
  thread_cpu_ms?: { event_loop: number; other_threads: number };
}) {
  const split = result.thread_cpu_ms;
  if (!split) return '';
  const perJob = (ms: number) => (ms / result.jobs).toFixed(2);
  return `event loop ${perJob(split.event_loop)} ms/job, other threads ${perJob(split.other_threads)} ms/job; `;
}

async function runInProcess(dataDir: string): Promise<Measured> {
  // The built packages through plain node, as users run them (no TypeScript loader in the profile).
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, 'inprocess')}`] : [];
  const node = spawnReporting(
    process.execPath,
    [...profile, join(root, 'bench', 'tiny-inprocess.mjs')],
    baseEnv(dataDir),
  );
  try {
    await node.line('READY');
    if (warm) {
      node.child.stdin?.write('GO\n');
      await node.line('RESULT ');
    }
    node.child.stdin?.write('GO\n');
    const result = JSON.parse(await node.line('RESULT '));
    const rssMb = await peakRssMb(node.child.pid as number);
    return {
      jobs: result.jobs,
      seconds: result.seconds,
      cpuMs: result.cpu_ms,
      rssMb,
      detail: `${threadSplit(result)}states ${JSON.stringify(result.states)}`,
    };
  } finally {
    node.child.stdin?.write('STOP\n');
    await node.stop(10_000);
  }
}

async function runRedis(dataDir: string, redis: BenchRedis, workers: number): Promise<Measured> {
  redis.flush();
  const env = { ...baseEnv(dataDir), REDIS_URL: redis.url };
  const started = Array.from({ length: workers }, (_, index) =>
    builtWorkers
      ? builtWorker(env, `redis-${workers}w-worker${index}`)
      : nodeChild('tiny-node.ts', ['worker'], env, `redis-${workers}w-worker${index}`),
  );
  const api = nodeChild('tiny-node.ts', ['submit'], env, `redis-${workers}w-api`);
  try {
    await Promise.all([
      ...started.map((child) => child.line(builtWorkers ? 'ncr-upload worker:' : 'READY')),
      api.line('READY'),
    ]);
    if (warm) {
      api.child.stdin?.write('GO\n');
      await api.line('RESULT ');
      // Count only the measured run's commands.
      execFileSync('redis-cli', ['-u', redis.url, 'config', 'resetstat'], { stdio: 'pipe' });
    }
    const workerPids = started.map((child) => child.child.pid as number);
    const redisPid = redis.child.pid as number;
    const before = [await cpuMsOf(workerPids), await cpuMsOf([redisPid])];
    const mainBefore = await mainThreadMs(workerPids);
    api.child.stdin?.write('GO\n');
    const result = JSON.parse(await api.line('RESULT '));
    const workersMs = (await cpuMsOf(workerPids)) - (before[0] as number);
    const workersMainMs = (await mainThreadMs(workerPids)) - mainBefore;
    const redisMs = (await cpuMsOf([redisPid])) - (before[1] as number);
    const workerAndRedisMs = workersMs + redisMs;
    const commands = redis.commands();
    const total = Object.values(commands).reduce((sum, count) => sum + count, 0);
    const scripts = (commands.evalsha ?? 0) + (commands.eval ?? 0);
    const top = Object.entries(commands)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([name, count]) => `${name} ${(count / result.jobs).toFixed(1)}`)
      .join(', ');
    const rss = await Promise.all(started.map((child) => peakRssMb(child.child.pid as number)));
    const apiRss = await peakRssMb(api.child.pid as number);
    return {
      jobs: result.jobs,
      seconds: result.seconds,
      cpuMs: workerAndRedisMs + result.cpu_ms,
      rssMb: Math.max(...rss),
      detail: `workers+Redis ${(workerAndRedisMs / result.jobs).toFixed(1)} ms/job (workers ${(workersMs / result.jobs).toFixed(2)} of which event loops ${(workersMainMs / result.jobs).toFixed(2)}, Redis ${(redisMs / result.jobs).toFixed(2)}), API ${(result.cpu_ms / result.jobs).toFixed(2)} ms/job; Redis commands ${(total / result.jobs).toFixed(1)}/job (scripts ${(scripts / result.jobs).toFixed(1)}; most: ${top}); RSS per worker ${rss.join(' + ')} MB, API ${apiRss} MB; states ${JSON.stringify(result.states)}`,
    };
  } finally {
    api.child.stdin?.write('STOP\n');
    await api.stop(10_000);
    await Promise.all(started.map((child) => child.stop()));
  }
}

async function runRawBullmq(redis: BenchRedis): Promise<Measured> {
  redis.flush();
  const node = nodeChild(
    'tiny-bullmq.ts',
    [],
    { ...process.env, REDIS_URL: redis.url, BENCH_JOBS: String(jobCount) },
    'bullmq',
  );
  const before = await cpuMsOf([redis.child.pid as number]);
  try {
    const result = JSON.parse(await node.line('RESULT '));
    const redisMs = (await cpuMsOf([redis.child.pid as number])) - before;
    return {
      jobs: result.jobs,
      seconds: result.seconds,
      cpuMs: result.cpu_ms + redisMs,
      rssMb: await peakRssMb(node.child.pid as number),
      detail: 'no-op handler, 1 process, concurrency 4',
    };
  } finally {
    await node.stop();
  }
}

/** Debian's python3-celery installs for the system Python, which another python3 on PATH may hide. */
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function celeryInstalled(): boolean {
  try {
    execFileSync(python, ['-c', 'import celery, redis'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

async function runCelery(dataDir: string, redis: BenchRedis): Promise<Measured> {
  redis.flush();
  const env = {
    ...process.env,
    CELERY_BENCH_REDIS: redis.url,
    CELERY_BENCH_DATA: dataDir,
    BENCH_JOBS: String(jobCount),
    PYTHONPATH: join(root, 'bench'),
  };
  const worker = spawnReporting(
    python,
    [
      '-m',
      'celery',
      '-A',
      'tiny_celery',
      'worker',
      '--pool',
      'prefork',
      '--concurrency',
      '2',
      '--loglevel',
      'WARNING',
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
    ],
    env,
    { quiet: true },
  );
  const submitter = spawnReporting(python, [join(root, 'bench', 'tiny_celery.py'), 'submit'], env);
  try {
    await submitter.line('READY');
    // The worker is up when it answers a ping task.
    submitter.child.stdin?.write('PING\n');
    await submitter.line('PONG');
    if (warm) {
      submitter.child.stdin?.write('GO\n');
      await submitter.line('RESULT ');
    }
    // The pool's children at the end may differ from those at the start (recycled): read the tree twice.
    const tree = async () => [...(await processTree(worker.child.pid as number)), redis.child.pid as number];
    const before = await cpuMsOf(await tree());
    submitter.child.stdin?.write('GO\n');
    const result = JSON.parse(await submitter.line('RESULT '));
    const pids = await tree();
    const used = (await cpuMsOf(pids)) - before + result.cpu_ms;
    const rss = await Promise.all(pids.slice(0, -1).map((pid) => peakRssMb(pid)));
    return {
      jobs: result.jobs,
      seconds: result.seconds,
      cpuMs: used,
      rssMb: Math.max(...rss),
      detail: `prefork × 2; RSS ${rss.join(' + ')} MB; states ${JSON.stringify(result.states)}`,
    };
  } finally {
    submitter.child.stdin?.write('STOP\n');
    await submitter.stop(10_000);
    await worker.stop();
  }
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'ncr-bench-tiny-'));
  const dataDir = join(work, 'data');
  await mkdir(dataDir, { recursive: true });
  await seedTinyJobs(join(dataDir, 'storage'), jobCount, tinyJob);
  const redis = await startBenchRedis();
  const withCelery = celeryInstalled();
  const cases: [string, () => Promise<Measured>][] = [
    ['ncr-upload in-process (embedded defaults, 4 at once)', () => runInProcess(dataDir)],
    ['ncr-upload Redis + BullMQ, 1 worker process (4 at once)', () => runRedis(dataDir, redis, 1)],
    ['ncr-upload Redis + BullMQ, 2 worker processes (4 at once each)', () => runRedis(dataDir, redis, 2)],
    ['raw BullMQ no-op jobs (same Redis)', () => runRawBullmq(redis)],
    ...(withCelery
      ? ([['Celery prefork × 2, Redis (same work in Python)', () => runCelery(dataDir, redis)]] as [
          string,
          () => Promise<Measured>,
        ][])
      : []),
  ];
  const wanted = only.toLowerCase().split(',').filter(Boolean);
  const selected = wanted.length
    ? cases.filter(([name]) => wanted.some((part) => name.toLowerCase().includes(part)))
    : cases;
  const results = new Map<string, Measured[]>();
  try {
    for (let run = 0; run < runs; run += 1) {
      for (const [name, measure] of selected) {
        const measured = await measure();
        process.stderr.write(
          `tiny run ${run + 1}: ${name}: ${(measured.jobs / measured.seconds).toFixed(1)} jobs/s\n`,
        );
        results.set(name, [...(results.get(name) ?? []), measured]);
      }
    }
  } finally {
    redis.child.kill('SIGTERM');
    await once(redis.child, 'exit');
    await rm(work, { recursive: true, force: true });
  }
  const celery = results.get('Celery prefork × 2, Redis (same work in Python)');
  const celeryRate = celery ? median(celery.map((m) => m.jobs / m.seconds)) : null;
  const lines = [
    `\n### Many small jobs: ${jobCount} jobs of 3 × 64 KB, median of ${runs} run(s)${warm ? ', each after one unmeasured run of the same jobs' : ''}, ${new Date().toISOString()}\n`,
    row(['case', 'jobs/s', '× Celery', 'CPU ms/job', 'peak RSS MB', 'detail']),
    row(['---', '---', '---', '---', '---', '---']),
  ];
  for (const [name, measured] of results) {
    const rate = median(measured.map((m) => m.jobs / m.seconds));
    const cpu = median(measured.map((m) => m.cpuMs / m.jobs));
    const rss = Math.max(...measured.map((m) => m.rssMb));
    lines.push(
      row([
        name,
        rate.toFixed(1),
        celeryRate ? (rate / celeryRate).toFixed(2) : '–',
        cpu.toFixed(1),
        rss,
        (measured.at(-1) as Measured).detail,
      ]),
    );
  }
  if (!withCelery) {
    lines.push(
      '',
      'Celery: not measured (python3-celery is not installed; `apt-get install python3-celery` adds it).',
    );
  }
  console.log(lines.join('\n'));
}

await main();
