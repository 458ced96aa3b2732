#!/usr/bin/env node
import { createServer, type Server } from 'node:http';
import { isUploadError } from '@ncr-upload/core';
import { redactCredentials } from '@ncr-upload/core/internal';
import { buildPipelineFromConfig } from './build-pipeline.js';
import { statusCommand, submitCommand } from './cli-client.js';
import { ConfigError, loadConfig, type RunnerConfig } from './config.js';
import { maskConfig } from './config-mask.js';
import { probeCommand } from './probe.js';
import { type Service, startApi, startWorker } from './service.js';

const HELP = `Usage: ncr-upload <command> [options]

Commands:
  serve                 Run the HTTP API and the workers in one process.
  api                   Run only the HTTP API (workers run elsewhere; needs REDIS_URL).
  worker                Run only the workers (the API runs elsewhere; needs REDIS_URL).
  submit <job.json|->   Submit a job (an object) or a batch (an array) to the API.
      --wait            Follow the task(s) until done; exit 1 unless all succeeded.
      --url <url>       The API. Default http://127.0.0.1:<API_PORT>.
  status <task_id>      Print a task's status.
  config                Print the effective configuration (secrets masked).
  probe live|ready      Health check: GET /live or /ready on 127.0.0.1, exit 0 on 200.
      --port <port>     Default WORKER_HEALTH_PORT, else API_PORT, else 8001.

Options:
  --env-file <path>     Read variables from this file. Default .env (when present).
  -h, --help            Show this help.

Configuration comes from environment variables and .env; see docs/configuration.md.
With nothing configured, serve runs on embedded defaults: folders below DATA_DIR
as storage (with a sample job) and destination, a built-in validator, an
in-memory status store and queue.
`;

interface Parsed {
  command: string | undefined;
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['--url', '--env-file', '--api-key']);

function parseArgs(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    if (arg === '-h') flags.set('--help', true);
    else if (arg.startsWith('--')) {
      // Split at the first '=' only: values (base64 keys, URLs with a query) may hold more.
      const equals = arg.indexOf('=');
      const name = equals === -1 ? arg : arg.slice(0, equals);
      const inline = equals === -1 ? undefined : arg.slice(equals + 1);
      if (inline !== undefined) flags.set(name, inline);
      else if (VALUE_FLAGS.has(name)) {
        const value = argv[index + 1];
        if (value === undefined) throw new Error(`${name} needs a value.`);
        flags.set(name, value);
        index += 1;
      } else flags.set(name, true);
    } else positional.push(arg);
  }
  return { command: positional.shift(), positional, flags };
}

function printConfigError(error: unknown): void {
  if (error instanceof ConfigError) {
    process.stderr.write(
      `ncr-upload: invalid configuration (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}):\n`,
    );
    for (const { name, problem } of error.problems) process.stderr.write(`  ${name}: ${problem}\n`);
    process.stderr.write('See docs/configuration.md for every variable.\n');
  } else {
    process.stderr.write(
      `ncr-upload: ${isUploadError(error) ? `${error.code}: ` : ''}${(error as Error)?.message ?? String(error)}\n`,
    );
  }
}

/**
 * While stopping, a client closing a connection it was still opening may
 * leave a rejection nobody handles (BullMQ's worker does, when it is closed
 * before its version check answered). Node would then end the process with
 * code 1 in the middle of a clean drain: report it instead; the drain decides
 * the exit code.
 */
function reportStrayRejections(): void {
  process.on('unhandledRejection', (reason) => {
    const text = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    process.stderr.write(
      `ncr-upload: while stopping, a rejection no one handled (reported, not fatal): ${redactCredentials(text)}\n`,
    );
  });
}

/**
 * Stop on SIGTERM/SIGINT (exit 0 after draining), rolling restart on SIGHUP.
 * Installed before the services start: a signal during startup (the banner is
 * printed before the waiting jobs are counted) waits for them to be up, then
 * drains them, instead of killing the process with no handler.
 */
function handleSignals(started: Promise<Service[]>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`ncr-upload: ${signal} again while stopping; still draining\n`);
      return;
    }
    stopping = true;
    reportStrayRejections();
    process.stdout.write(`ncr-upload: ${signal} received: draining\n`);
    started
      .then((services) => Promise.all(services.map((service) => service.stop())))
      .then((summaries) => {
        for (const summary of summaries)
          if (summary) process.stdout.write(`ncr-upload: stopped ${summary}\n`);
        process.exit(0);
      })
      .catch((error: unknown) => {
        process.stderr.write(`ncr-upload: shutdown failed: ${(error as Error)?.message}\n`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    void started.then((services) => {
      for (const service of services) void service.restart?.();
    });
  });
}

function workerHealthServer(config: RunnerConfig, worker: Service): Server | undefined {
  const port = config.worker.healthPort;
  if (port === undefined) return undefined;
  const server = createServer((request, response) => {
    const reply = (status: number, body: object) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.url === '/ready') {
      const ready = worker.ready();
      reply(ready ? 200 : 503, { status: ready ? 'ok' : 'draining', timestamp: new Date().toISOString() });
    } else if (request.url === '/live') {
      worker.liveness().then(
        (liveness) => reply(liveness.status === 'ok' ? 200 : 503, liveness),
        () => reply(503, { status: 'unavailable', timestamp: new Date().toISOString() }),
      );
    } else {
      reply(404, { status: 'not found' });
    }
  });
  server.listen(port, config.api.host);
  return server;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    process.stderr.write(`ncr-upload: ${(error as Error).message}\n${HELP}`);
    return 2;
  }
  const { command, positional, flags } = parsed;
  if (flags.has('--help') || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !flags.has('--help') ? 2 : 0;
  }
  if (command === 'probe') return probeCommand(argv.slice(argv.indexOf('probe') + 1));
  const envFile = typeof flags.get('--env-file') === 'string' ? (flags.get('--env-file') as string) : '.env';
  let config: RunnerConfig;
  try {
    config = loadConfig(process.env, { envFile });
  } catch (error) {
    printConfigError(error);
    return 1;
  }
  try {
    switch (command) {
      case 'config': {
        // The checks `serve` makes when it builds the adapters (host key format, SQL placeholders, key file…).
        const built = await buildPipelineFromConfig(config, { seedSample: false });
        await built.close({ timeoutMs: 0 });
        process.stdout.write(`${JSON.stringify(maskConfig(config), null, 2)}\n`);
        return 0;
      }
      case 'submit':
      case 'status': {
        const target = positional[0];
        if (!target) {
          process.stderr.write(
            `ncr-upload: ${command} needs ${command === 'submit' ? 'a job file or -' : 'a task id'}\n`,
          );
          return 2;
        }
        const url =
          typeof flags.get('--url') === 'string'
            ? (flags.get('--url') as string)
            : `http://127.0.0.1:${config.api.port}`;
        const apiKey =
          typeof flags.get('--api-key') === 'string' ? (flags.get('--api-key') as string) : config.api.key;
        const client = { url, apiKey, out: process.stdout };
        return command === 'submit'
          ? await submitCommand(client, target, flags.has('--wait'))
          : await statusCommand(client, target);
      }
      case 'serve':
      case 'api':
      case 'worker': {
        const start = async (): Promise<Service[]> => {
          if (command !== 'worker') return startApi(config, { withWorkers: command === 'serve', envFile });
          const worker = await startWorker(config, { envFile });
          const health = workerHealthServer(config, worker);
          if (!health) return [worker];
          return [
            worker,
            {
              name: 'health',
              ready: () => true,
              liveness: () => worker.liveness(),
              stop: async () => void health.close(),
            },
          ];
        };
        const started = start();
        handleSignals(started);
        await started;
        return -1;
      }
      default:
        process.stderr.write(`ncr-upload: unknown command ${command}\n${HELP}`);
        return 2;
    }
  } catch (error) {
    printConfigError(error);
    return 1;
  }
}

main().then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    printConfigError(error);
    process.exitCode = 1;
  },
);
