#!/usr/bin/env node
// npm run test:deploy: the README's Docker section on a real Docker engine, under load.
//
// From a clean clone of HEAD in a temp folder it runs the README's first Docker block word for word
// (cp .env.example .env, docker compose up, deploy.sh health), seeds job folders in the data
// volume, then runs each line of the second block (deploy.sh deploy, status, rollback) while a
// steady load (about 20 requests a second: POST /process-job and GET /job-status) goes through the
// proxy, and kills a worker container with `docker kill` while it runs a job. It checks that no
// request failed (non-2xx, reset, timeout) and that every accepted job ended succeeded with exactly
// one zip in the outbox volume, prints `deploy: N requests, F failed, M jobs, L lost` and exits 1
// unless both are 0. Needs docker with compose v2 and the base images available locally or from a
// registry (NODE_IMAGE, REDIS_IMAGE, PROXY_IMAGE). KEEP=1 leaves the stack and the clone for a look.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');
const RATE = Number(process.env.DEPLOY_TEST_RATE ?? 20); // requests a second
const POST_EVERY = 8; // one request in 8 submits a job (2.5 a second), the others read a status
// A request not answered within this counts as failed (timeout). Generous: the test shares 2 cores
// with whatever else runs on the machine (load average 20-35 measured).
const REQUEST_TIMEOUT_MS = 30_000;
const CAMPAIGN = 'deploytest';
const USER = 'load';

const log = (line) => process.stdout.write(`[test:deploy] ${line}\n`);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Run a shell line in the clone, streaming its output; resolves with the exit code. */
function sh(line, env, cwd) {
  log(`$ ${line}`);
  return new Promise((done) => {
    const child = spawn('bash', ['-c', line], { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => done(code ?? 1));
  });
}

function capture(command, args, env, cwd, input) {
  return execFileSync(command, args, { cwd, env, input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** The bash blocks of the README's `## Docker` section, as lines (comments dropped). */
function readmeBlocks(readme) {
  const section = readme.split(/^## Docker$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('README.md has no "## Docker" section');
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((match) =>
    match[1]
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => line !== '' && !line.startsWith('#')),
  );
}

/** Job folders with a few files of random bytes, under work/seed/storage. */
function seedFolders(count, work) {
  const root = join(work, 'seed');
  for (let index = 0; index < count; index += 1) {
    const folder = join(root, 'storage', CAMPAIGN, USER, `job-${index}`);
    mkdirSync(join(folder, 'images'), { recursive: true });
    writeFileSync(join(folder, 'form.pdf'), randomBytes(2048 + (index % 7) * 512));
    writeFileSync(join(folder, 'images', 'front.jpg'), randomBytes(4096 + (index % 5) * 1024));
  }
  // One big job for the kill test: it runs for a while in one worker.
  const big = join(root, 'storage', CAMPAIGN, USER, 'big-job');
  mkdirSync(big, { recursive: true });
  for (let part = 0; part < 4; part += 1)
    writeFileSync(join(big, `scan-${part}.bin`), randomBytes(32 * 1024 * 1024));
  return root;
}

class Load {
  constructor(base) {
    this.base = base;
    this.requests = 0;
    this.failures = [];
    this.accepted = new Map(); // task_id -> job_id
    this.nextJob = 0;
    this.running = false;
  }

  async request(method, path, body) {
    this.requests += 1;
    // When it was sent (wall clock, as deploy.sh logs its steps) and how long it took, for a failure's line.
    const sent = new Date();
    const when = () => `sent ${sent.toISOString().slice(11, 23)}, ${Date.now() - sent.getTime()} ms`;
    try {
      const response = await fetch(`${this.base}${path}`, {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      if (!response.ok) {
        this.failures.push(`${method} ${path} (${when()}): HTTP ${response.status} ${text.slice(0, 400)}`);
        return undefined;
      }
      return JSON.parse(text);
    } catch (error) {
      this.failures.push(
        `${method} ${path} (${when()}): ${error.cause?.code ?? error.name} ${error.message}`,
      );
      return undefined;
    }
  }

  async submit(jobId) {
    const answer = await this.request('POST', '/process-job', {
      job_id: jobId,
      username: USER,
      campaign: CAMPAIGN,
    });
    if (answer?.task_id) this.accepted.set(answer.task_id, jobId);
    return answer;
  }

  one(tick) {
    const ids = [...this.accepted.keys()];
    if (tick % POST_EVERY === 0 || ids.length === 0) return this.submit(`job-${this.nextJob++}`);
    return this.request('GET', `/job-status/${ids[Math.floor(Math.random() * ids.length)]}`);
  }

  /** Fire requests at RATE per second (without waiting for answers) until stop(). */
  start() {
    this.running = true;
    const inFlight = new Set();
    const started = Date.now();
    this.loop = (async () => {
      for (let tick = 0; this.running; tick += 1) {
        const due = started + (tick * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
        const call = this.one(tick).finally(() => inFlight.delete(call));
        inFlight.add(call);
      }
      await Promise.all(inFlight);
    })();
  }

  async stop() {
    this.running = false;
    await this.loop;
  }
}

async function waitTerminal(load, taskIds, deadlineMs) {
  const final = new Map();
  const deadline = Date.now() + deadlineMs;
  let pending = [...taskIds];
  while (pending.length > 0 && Date.now() < deadline) {
    const still = [];
    for (const taskId of pending) {
      const response = await fetch(`${load.base}/job-status/${taskId}`, {
        signal: AbortSignal.timeout(10_000),
      })
        .then((answer) => (answer.ok ? answer.json() : undefined))
        .catch(() => undefined);
      if (response && ['succeeded', 'failed', 'cancelled'].includes(response.state))
        final.set(taskId, response);
      else still.push(taskId);
    }
    pending = still;
    if (pending.length > 0) await sleep(2000);
  }
  return final;
}

async function main() {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'ncr-deploy-test-'));
  const clone = join(work, 'checkout');
  const port = await freePort();
  const project = `ncr-deploy-test-${process.pid}`;
  const env = {
    ...process.env,
    COMPOSE_PROJECT_NAME: project,
    IMAGE: project,
    API_PORT: String(port),
  };
  // Only the README's commands decide the versions: deploy.sh names them after the commit.
  delete env.APP_VERSION;
  const compose = (...args) => capture('docker', ['compose', ...args], env, clone);
  let ok = false;
  let load;
  try {
    capture('git', ['clone', '--quiet', '--no-hardlinks', repo, clone], process.env, work);
    const head = capture('git', ['rev-parse', '--short', 'HEAD'], process.env, clone).trim();
    log(`clean clone of ${head} on port ${port}, compose project ${project}`);
    const [setup, update] = readmeBlocks(readFileSync(join(clone, 'README.md'), 'utf8'));
    if (!setup || !update) throw new Error('README.md Docker section needs two bash blocks (setup, update)');

    const upStarted = Date.now();
    for (const line of setup) {
      if ((await sh(line, env, clone)) !== 0) throw new Error(`README line failed: ${line}`);
    }
    const upSeconds = Math.round((Date.now() - upStarted) / 1000);
    const imageBytes = Number(
      capture('docker', ['image', 'inspect', '--format', '{{.Size}}', `${project}:latest`], env).trim(),
    );
    log(`stack up in ${upSeconds}s; image ${(imageBytes / 1e6).toFixed(0)} MB`);

    const seedCount = 2500;
    log('seeding job folders in the data volume');
    const seeded = seedFolders(seedCount, work);
    if (
      (await sh(`tar -c -C ${seeded} storage | docker compose exec -T api tar -x -C /data`, env, clone)) !== 0
    ) {
      throw new Error('seeding the data volume failed');
    }

    load = new Load(`http://127.0.0.1:${port}`);
    const timings = {};
    // A new commit: deploy builds a new version, rollback goes back to the one compose started.
    capture(
      'git',
      [
        '-c',
        'user.name=test',
        '-c',
        'user.email=test@example.com',
        'commit',
        '--quiet',
        '--allow-empty',
        '-m',
        'next version',
      ],
      process.env,
      clone,
    );
    load.start();
    await sleep(3000);
    for (const line of update) {
      const lineStarted = Date.now();
      const [requestsBefore, failuresBefore] = [load.requests, load.failures.length];
      const code = await sh(line, env, clone);
      timings[line] =
        `${Math.round((Date.now() - lineStarted) / 1000)}s, ${load.requests - requestsBefore} requests, ` +
        `${load.failures.length - failuresBefore} failed`;
      if (code !== 0) throw new Error(`README line failed: ${line}`);
      const versions = compose('ps', '--format', '{{.Service}} {{.Image}}');
      log(`after "${line}": ${versions.trim().split('\n').join(', ')}`);
    }
    await sleep(3000);

    // docker kill a worker while it runs a job: the job must still end succeeded.
    const big = await load.submit('big-job');
    let victim;
    for (let tries = 0; tries < 120 && big && !victim; tries += 1) {
      const status = await load.request('GET', `/job-status/${big.task_id}`);
      if (status?.state === 'running' && status.worker) victim = status.worker.split(':')[0];
      else await sleep(500);
    }
    if (!victim) throw new Error('the big job never ran');
    log(`docker kill ${victim} (running ${big.task_id})`);
    capture('docker', ['kill', victim], env);
    await sleep(5000);
    await load.stop();
    compose('up', '-d', '--no-recreate', '--no-build', 'worker');

    const final = await waitTerminal(load, [...load.accepted.keys()], 5 * 60_000);
    const outbox = JSON.parse(
      compose(
        'exec',
        '-T',
        'api',
        'node',
        '-e',
        `const fs=require('fs'),c=require('crypto'),d='/data/outbox/${CAMPAIGN}/${USER}';const o={};for(const n of fs.existsSync(d)?fs.readdirSync(d):[])o[n]=c.createHash('sha256').update(fs.readFileSync(d+'/'+n)).digest('hex');console.log(JSON.stringify(o))`,
      ),
    );
    const lost = [];
    const jobs = new Map();
    for (const [taskId, jobId] of load.accepted) {
      const record = final.get(taskId);
      const count = (jobs.get(jobId) ?? 0) + 1;
      jobs.set(jobId, count);
      if (count > 1) lost.push(`${jobId}: accepted ${count} times`);
      if (!record) lost.push(`${jobId} (${taskId}): not finished`);
      else if (record.state !== 'succeeded')
        lost.push(`${jobId}: ${record.state} ${JSON.stringify(record.error)}`);
      else if (outbox[`${jobId}.zip`] !== record.result?.sha256)
        lost.push(`${jobId}: zip missing or differs`);
    }
    const stray = Object.keys(outbox).filter((name) => !jobs.has(name.replace(/\.zip$/, '')));
    for (const name of stray) lost.push(`unexpected file in the outbox: ${name}`);

    for (const failure of load.failures.slice(0, 10)) log(`failed: ${failure}`);
    for (const line of lost.slice(0, 10)) log(`lost: ${line}`);
    log(`compose up: ${upSeconds}s`);
    for (const [line, figures] of Object.entries(timings)) log(`${line}: ${figures}`);
    log(
      `image size: ${(imageBytes / 1e6).toFixed(0)} MB; total ${Math.round((Date.now() - started) / 1000)}s`,
    );
    process.stdout.write(
      `deploy: ${load.requests} requests, ${load.failures.length} failed, ${load.accepted.size} jobs, ${lost.length} lost\n`,
    );
    ok = load.failures.length === 0 && lost.length === 0;
  } catch (error) {
    log(`error: ${error.message}`);
    await load?.stop();
    for (const failure of load?.failures.slice(0, 10) ?? []) log(`failed: ${failure}`);
    const failed = (load?.failures.length ?? 0) + 1;
    process.stdout.write(
      `deploy: ${load?.requests ?? 0} requests, ${failed} failed, ${load?.accepted.size ?? 0} jobs, 0 lost\n`,
    );
  } finally {
    if (process.env.KEEP === '1') log(`kept: ${clone} (docker compose -p ${project} down -v --rmi local)`);
    else {
      try {
        compose('down', '--volumes', '--remove-orphans', '--timeout', '5');
        const images = capture('docker', ['image', 'ls', '--quiet', project], env)
          .trim()
          .split('\n')
          .filter(Boolean);
        if (images.length > 0) capture('docker', ['image', 'rm', '--force', ...new Set(images)], env);
      } catch (error) {
        log(`cleanup: ${error.message}`);
      }
      rmSync(work, { recursive: true, force: true });
    }
  }
  process.exitCode = ok ? 0 : 1;
}

await main();
