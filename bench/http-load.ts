/**
 * Open-loop load for bench/http.ts: POST /process-job at a fixed rate for a
 * fixed time, each request sent when due whatever the earlier ones do; latency
 * is counted from the due time (so a stalled server shows, no coordinated
 * omission). With `BENCH_WARMUP_SECONDS`, the same rate runs that long
 * first; those requests are reported apart (`warmup`), and `MEASURING` is
 * printed when the measured ones start. A request goes out on an idle
 * keep-alive connection, or on a new one while there are fewer than
 * `BENCH_SOCKETS` (default 512), else it waits for one: `connections` in the
 * result counts the connections opened. Prints `RESULT {json}`.
 */
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const url = new URL(process.env.BENCH_URL ?? 'http://127.0.0.1:8001/process-job');
const rate = Number(process.env.BENCH_RATE ?? 1000);
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 30_000);
const warm = Math.round(rate * Number(process.env.BENCH_WARMUP_SECONDS ?? 0));
const total = warm + Math.round(rate * seconds);
// Idle sockets are closed after 4 s, before the server's keep-alive timeout (5 s): otherwise a request
// can go out on a socket the server is closing at that moment (ECONNRESET), a race of the client's making.
const agent = new Agent({
  keepAlive: true,
  maxSockets: Number(process.env.BENCH_SOCKETS ?? 512),
  timeout: 4000,
});
/** Connections opened over the run (a server that falls behind makes the agent open more). */
const opened = new WeakSet<Socket>();
let connections = 0;
const latencies: number[] = [];
const warmLatencies: number[] = [];
/** Each request's due time (ms from the start) beside its latency: when the slow answers were due. */
const dueAt: number[] = [];
// The generator's own event loop: a stall here delays sending and reading, and shows as latency.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const errors: Record<string, number> = {};
let done = 0;
let finish: () => void = () => undefined;
const finished = new Promise<void>((resolve) => {
  finish = resolve;
});

const record = (index: number, due: number, failure: string | null) => {
  if (index < warm) warmLatencies.push(performance.now() - due);
  else {
    latencies.push(performance.now() - due);
    dueAt.push(due - measuredStart);
    if (failure) errors[failure] = (errors[failure] ?? 0) + 1;
  }
  done += 1;
  if (done === total) finish();
};

function send(index: number, due: number) {
  const body = JSON.stringify({
    job_id: `http-${String(index).padStart(6, '0')}`,
    username: 'bench',
    campaign: 'http',
  });
  const req = request(
    url,
    {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: timeoutMs,
    },
    (response) => {
      response.resume();
      response.on('end', () =>
        record(index, due, response.statusCode === 200 ? null : `HTTP ${response.statusCode}`),
      );
      response.on('error', () => record(index, due, 'response error'));
    },
  );
  req.on('socket', (socket) => {
    if (opened.has(socket)) return;
    opened.add(socket);
    connections += 1;
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (error) => record(index, due, error.message.slice(0, 60)));
  req.end(body);
}

const start = performance.now() + 100;
const measuredStart = start + (warm * 1000) / rate;
let cpuAtStart = process.cpuUsage();
let next = 0;
const tick = () => {
  const now = performance.now();
  while (next < total && start + (next * 1000) / rate <= now) {
    if (next === warm && warm > 0) {
      cpuAtStart = process.cpuUsage();
      loopDelay.reset();
      process.stdout.write('MEASURING\n');
    }
    send(next, start + (next * 1000) / rate);
    next += 1;
  }
  if (next < total) setTimeout(tick, 1);
};
setTimeout(tick, 100);
await finished;
const cpu = process.cpuUsage(cpuAtStart);
const clientCpuMs = (cpu.user + cpu.system) / 1000;
agent.destroy();
loopDelay.disable();
/** The quantile function of `values` (nearest rank). */
function quantiles(values: number[]): (q: number) => number {
  const sorted = [...values].sort((a, b) => a - b);
  return (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}
const at = quantiles(latencies);
const p99 = at(0.99);
// The tail's shape: the 100 ms windows (by due time) whose requests waited longest, so one stall
// (a few windows, hundreds of ms) is told from steady queueing (spread over the run).
const windows = new Map<number, { max: number; slow: number }>();
latencies.forEach((latency, index) => {
  const window = Math.floor((dueAt[index] ?? 0) / 100);
  const entry = windows.get(window) ?? { max: 0, slow: 0 };
  entry.max = Math.max(entry.max, latency);
  if (latency > p99) entry.slow += 1;
  windows.set(window, entry);
});
const worstWindows = [...windows.entries()]
  .sort((a, b) => b[1].max - a[1].max)
  .slice(0, 5)
  .map(([window, entry]) => ({ at_s: window / 10, max_ms: Math.round(entry.max), above_p99: entry.slow }));
const warmAt = quantiles(warmLatencies);
const windowsAboveP99 = [...windows.values()].filter((entry) => entry.slow > 0).length;
process.stdout.write(
  `RESULT ${JSON.stringify({
    requests: latencies.length,
    p50: at(0.5),
    p90: at(0.9),
    p99,
    max: at(1),
    errors,
    clientCpuMs,
    clientLoopDelayMaxMs: loopDelay.max / 1e6,
    connections,
    windowsAboveP99,
    worstWindows,
    warmup:
      warm === 0
        ? null
        : { requests: warmLatencies.length, p50: warmAt(0.5), p99: warmAt(0.99), max: warmAt(1) },
  })}\n`,
);
process.exit(0);
