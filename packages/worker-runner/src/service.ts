import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { relative, resolve } from 'node:path';
import { type Liveness, probeLiveness, type UploadPipeline } from '@ncr-upload/core';
import { raceTimeout } from '@ncr-upload/core/internal';
import { createUploadApp } from '@ncr-upload/express-adapter';
import { pino } from 'pino';
import { type BuiltPipeline, buildPipelineFromConfig } from './build-pipeline.js';
import type { RunnerConfig } from './config.js';
import { CHILD_ENV } from './ipc.js';
import { localUrl } from './local-url.js';
import { loadPipelineModule } from './pipeline-module.js';
import { redisEndpoint } from './redis-connection.js';
import { createRunner, type Runner } from './runner.js';
import { SAMPLE_JOB } from './sample-data.js';
import { runSampleJob } from './sample-run.js';

/** A worker that takes no waiting job for this long is reported stuck by `/live`. */
const LIVENESS_STALE_MS = 600_000;

/** A running part of the CLI (API, workers) that the signal handlers stop. */
export interface Service {
  name: string;
  ready(): boolean;
  /** Liveness with proof of consumption (see `assessLiveness`). */
  liveness(): Promise<Liveness>;
  /** Drain and stop; returns a one-line summary. */
  stop(): Promise<string | undefined>;
  /** SIGHUP: rolling restart of worker processes. */
  restart?(): Promise<void>;
}

type Loaded = Pick<BuiltPipeline, 'pipeline' | 'close'> & {
  parts: BuiltPipeline['parts'] | null;
  built: BuiltPipeline | null;
};

function createLogger(config: RunnerConfig) {
  return pino({
    level: config.logLevel,
    name: 'ncr-upload',
    redact: { paths: ['password', 'secretAccessKey', 'apiKey', '*.password'], censor: '[redacted]' },
  });
}

async function loadPipeline(config: RunnerConfig, logger: ReturnType<typeof createLogger>): Promise<Loaded> {
  if (config.pipelineModule) {
    const loaded = await loadPipelineModule(config.pipelineModule, { role: 'main', logger });
    return { pipeline: loaded.pipeline, close: loaded.close, parts: null, built: null };
  }
  const built = await buildPipelineFromConfig(config, { logger });
  return { pipeline: built.pipeline, close: built.close, parts: built.parts, built };
}

/** How the CLI was started: what its child processes need to read the same configuration. */
export interface StartOptions {
  /** The env file the configuration was read from (resolved; a missing file is skipped). Default `.env`. */
  envFile?: string;
}

function makeRunner(
  config: RunnerConfig,
  pipeline: UploadPipeline,
  logger: ReturnType<typeof createLogger>,
  start: StartOptions & { withApi: boolean },
): Runner {
  return createRunner({
    // Next to the API (serve): jobs get a bounded share of the event loop the API answers on.
    ...(start.withApi ? { maxLoopDelayMs: config.worker.maxLoopDelayMs } : {}),
    pipeline,
    // Children read the configuration again: from the same env file as this process.
    childEnv: { [CHILD_ENV.envFile]: resolve(start.envFile ?? '.env') },
    ...(config.pipelineModule ? { pipelineModule: resolve(config.pipelineModule) } : {}),
    concurrency: config.worker.concurrency,
    maxMemoryPercent: config.memory.maxPercent,
    isolation: config.worker.isolation,
    maxTasksPerChild: config.worker.maxTasksPerChild,
    maxMemoryPerChildKb: config.worker.maxMemoryPerChildKb,
    // A hard limit for hung child processes, after the pipeline's own per-attempt timeout had its chance.
    jobTimeoutMs: config.worker.jobTimeoutMs + 30_000,
    shutdownTimeoutMs: config.worker.shutdownTimeoutMs,
    logger,
  });
}

const summaryLine = (summary: { in_flight: number; finished: number; handed_back: number }) =>
  `${summary.in_flight} job(s) were running: ${summary.finished} finished, ${summary.handed_back} handed back`;

/** How this CLI was started, for the hints it prints: `ncr-upload` when installed, `node <path>` in a checkout. */
function cliCommand(): string {
  const script = process.argv[1] ?? '';
  if (!/cli\.[cm]?js$/.test(script)) return 'ncr-upload';
  const shown = relative(process.cwd(), script);
  return `node ${shown.startsWith('..') ? script : shown}`;
}

function banner(
  config: RunnerConfig,
  loaded: Loaded,
  address: AddressInfo,
  runner: Runner | undefined,
): string {
  const base = localUrl(address);
  const lines = [`ncr-upload ${runner ? 'serving' : 'API'} on ${config.api.host}:${address.port}`];
  lines.push(`  API          ${base}`, `  Docs         ${base}/docs`, `  Dashboard    ${base}/dashboard`);
  const parts = loaded.parts;
  if (parts) {
    const built = loaded.built;
    lines.push(
      `  Storage      ${parts.storage}${built?.storageRoot ? `  ${built.storageRoot}` : ''}`,
      `  Catalog      ${parts.catalog}`,
      `  Validator    ${parts.validator}`,
      `  Destination  ${parts.destination}${built?.outbox ? `  outbox: ${built.outbox}` : ''}`,
      `  Status store ${parts.statusStore}`,
      `  Queue        ${parts.queue}`,
    );
  } else {
    lines.push(`  Pipeline     from ${config.pipelineModule}`);
  }
  if (runner) {
    lines.push(
      `  Workers      ${config.worker.concurrency} ${config.worker.isolation}, paused above ${config.memory.maxPercent}% memory`,
    );
  }
  if (parts?.storage === 'folder (embedded)') {
    lines.push(`Try: echo '${JSON.stringify(SAMPLE_JOB)}' | ${cliCommand()} submit - --wait --url ${base}`);
  }
  return `${lines.join('\n')}\n`;
}

/** After the banner: say what the process still waits for (Redis unreachable at start), without blocking. */
async function reportWaiting(config: RunnerConfig, pipeline: UploadPipeline): Promise<void> {
  if (!config.redis || !pipeline.statusStore.ping) return;
  const ping = pipeline.statusStore.ping();
  const answered = await raceTimeout(
    ping.then(() => true),
    1500,
  ).catch(() => false);
  if (answered === true) return;
  ping.catch(() => undefined);
  process.stdout.write(
    `  Waiting for  Redis at ${redisEndpoint(config.redis.url)}: submissions and reads answer 503 until it answers\n`,
  );
}

/** `serve` (withWorkers) and `api`: the HTTP API, and for `serve` the runner in the same process. */
export async function startApi(
  config: RunnerConfig,
  options: { withWorkers: boolean } & StartOptions,
): Promise<Service[]> {
  const logger = createLogger(config);
  if (!options.withWorkers && !config.redis) {
    logger.warn(
      'api without REDIS_URL: jobs are queued in this process and no worker will run them; use serve, or set REDIS_URL',
    );
  }
  const loaded = await loadPipeline(config, logger);
  const runner = options.withWorkers
    ? makeRunner(config, loaded.pipeline, logger, { ...options, withApi: true })
    : undefined;
  let stopping = false;
  const app = createUploadApp(loaded.pipeline, {
    ...(config.api.key ? { apiKey: config.api.key } : {}),
    logger,
    readiness: () => !stopping && (runner ? runner.ready : true),
  });
  const server = await new Promise<ReturnType<typeof app.listen>>((resolveServer, reject) => {
    const listening = app.listen(config.api.port, config.api.host, (error?: Error) => {
      if (error) reject(error);
      else resolveServer(listening);
    });
    listening.once('error', reject);
  });
  // An operator's "drain and stop" from the console stops this process as SIGTERM does.
  runner?.on('stop-requested', () => process.kill(process.pid, 'SIGTERM'));
  if (runner) await runner.start();
  process.stdout.write(banner(config, loaded, server.address() as AddressInfo, runner));
  await reportWaiting(config, loaded.pipeline);
  const outbox = loaded.built?.outbox;
  if (runner && config.sampleJob && loaded.built?.storageRoot && outbox) {
    // First run on embedded defaults: show the whole pipeline working on the sample job.
    void runSampleJob(loaded.pipeline, outbox, (line) => process.stdout.write(`${line}\n`)).catch(
      (error: unknown) => logger.warn({ err: String(error) }, 'the sample job could not run'),
    );
  }
  return [
    {
      name: runner ? 'serve' : 'api',
      ready: () => !stopping,
      liveness: () => probeLiveness(loaded.pipeline, LIVENESS_STALE_MS),
      async stop() {
        stopping = true;
        const summary = runner ? await runner.stop() : undefined;
        app.close();
        await closeGracefully(server, HTTP_CLOSE_GRACE_MS);
        await loaded.close({ timeoutMs: 1000 });
        return summary ? summaryLine(summary) : undefined;
      },
      restart: runner ? () => runner.restartChildren() : undefined,
    } satisfies Service,
  ];
}

/** `worker`: the runner without the API. */
export async function startWorker(
  config: RunnerConfig,
  options: StartOptions = {},
): Promise<Service & { runner: Runner }> {
  const logger = createLogger(config);
  if (!config.redis && !config.pipelineModule) {
    logger.warn(
      'worker without REDIS_URL consumes an in-memory queue nobody else can fill; use serve, or set REDIS_URL',
    );
  }
  const loaded = await loadPipeline(config, logger);
  const runner = makeRunner(config, loaded.pipeline, logger, { ...options, withApi: false });
  runner.on('stop-requested', () => process.kill(process.pid, 'SIGTERM'));
  await runner.start();
  process.stdout.write(
    `ncr-upload worker: ${config.worker.concurrency} ${config.worker.isolation}, queue ${loaded.parts?.queue ?? `from ${config.pipelineModule}`}\n`,
  );
  await reportWaiting(config, loaded.pipeline);
  return {
    name: 'worker',
    runner,
    ready: () => runner.ready,
    liveness: () => probeLiveness(loaded.pipeline, LIVENESS_STALE_MS),
    async stop() {
      const summary = await runner.stop();
      await loaded.close({ timeoutMs: 1000 });
      return summaryLine(summary);
    },
    restart: () => runner.restartChildren(),
  };
}

/** How long requests in flight may take to finish when the API stops, before their connections are cut. */
const HTTP_CLOSE_GRACE_MS = 10_000;

/**
 * Stop accepting connections, close idle keep-alive ones at once, let requests in
 * flight finish (a proxy or preStop has already stopped sending new ones), and cut
 * whatever is still open after `graceMs`.
 */
function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((done) => {
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      done();
    });
    server.closeIdleConnections();
  });
}
