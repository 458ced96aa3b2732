/**
 * Open-loop load for bench/http.ts: POST /process-job at a fixed rate for a
 * fixed time, each request sent when due whatever the earlier ones do; latency
 * is counted from the due time (so a stalled server shows, no coordinated
 * omission). Prints `RESULT {json}`.
 */
import { Agent, request } from 'node:http';

const url = new URL(process.env.BENCH_URL ?? 'http://127.0.0.1:8001/process-job');
const rate = Number(process.env.BENCH_RATE ?? 1000);
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 30_000);
const total = Math.round(rate * seconds);
// Idle sockets are closed after 4 s, before the server's keep-alive timeout (5 s): otherwise a request
// can go out on a socket the server is closing at that moment (ECONNRESET), a race of the client's making.
const agent = new Agent({ keepAlive: true, maxSockets: 512, timeout: 4000 });
const latencies: number[] = [];
const errors: Record<string, number> = {};
let done = 0;
let finish: () => void = () => undefined;
const finished = new Promise<void>((resolve) => {
  finish = resolve;
});

const record = (due: number, failure: string | null) => {
  latencies.push(performance.now() - due);
  if (failure) errors[failure] = (errors[failure] ?? 0) + 1;
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
        record(due, response.statusCode === 200 ? null : `HTTP ${response.statusCode}`),
      );
      response.on('error', () => record(due, 'response error'));
    },
  );
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (error) => record(due, error.message.slice(0, 60)));
  req.end(body);
}

const start = performance.now() + 100;
const cpuAtStart = process.cpuUsage();
let next = 0;
const tick = () => {
  const now = performance.now();
  while (next < total && start + (next * 1000) / rate <= now) {
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
const sorted = [...latencies].sort((a, b) => a - b);
const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
process.stdout.write(
  `RESULT ${JSON.stringify({ requests: total, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), errors, clientCpuMs })}\n`,
);
process.exit(0);
