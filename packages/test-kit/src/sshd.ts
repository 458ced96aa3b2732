/**
 * A real OpenSSH sshd for tests and benchmarks: its own config, host key, user
 * key and free port on 127.0.0.1, serving one folder over SFTP only
 * (`ForceCommand internal-sftp -d <root>`). Needs Debian's `openssh-server`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { canConnect, freePort } from './net.js';
import { isAlive } from './process.js';

const run = promisify(execFile);

const SSHD = '/usr/sbin/sshd';

export interface StartSshdOptions {
  /** Folder to serve (absolute or relative to the working directory). Default: a new temp folder, removed on stop. */
  root?: string;
}

export interface SshdServer {
  host: '127.0.0.1';
  port: number;
  /** The current user (sshd authenticates it with `privateKey`). */
  username: string;
  /** The user's private key (OpenSSH format, no passphrase). */
  privateKey: string;
  /** The host key fingerprint as OpenSSH prints it: `SHA256:<base64 without padding>`. */
  hostFingerprint: string;
  /** The served folder, absolute; SFTP paths are relative to it. */
  root: string;
  /** Path of sshd's log file (LogLevel VERBOSE). */
  logFile: string;
  /** The listener's process id while it runs (its ended sessions' CPU is counted in its own). */
  readonly pid: number | undefined;
  /** Number of connections sshd accepted (authenticated) since the first start, read from its log. */
  acceptedConnections(): Promise<number>;
  /** Graceful stop of the listener and its sessions; removes the temp folders. */
  stop(): Promise<void>;
  /** Hard stop (SIGKILL of the listener and every session process), for fault tests. Files are kept. */
  kill(): Promise<void>;
  /** Start again on the same port with the same keys (after `kill()`, or while running). */
  restart(): Promise<void>;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children;
  }
  for (const task of tasks) {
    try {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (listed) children.push(...listed.split(/\s+/).map(Number));
    } catch {
      // The thread ended, or the kernel lacks the children file (see the scan below).
    }
  }
  return children;
}

/** Every descendant of `pid` (the per-connection sshd processes), read from /proc synchronously. */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift() as number;
    for (const child of childrenOf(current)) {
      if (!found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function send(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

async function signalAll(pids: number[], signal: NodeJS.Signals): Promise<void> {
  send(pids, signal);
  for (let waited = 0; waited < 5000 && pids.some(isAlive); waited += 20) await sleep(20);
  for (const pid of pids.filter(isAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Start sshd; resolves once the port accepts connections. */
export async function startSshd(options: StartSshdOptions = {}): Promise<SshdServer> {
  if (!existsSync(SSHD)) {
    throw new Error(
      `${SSHD} is missing: install Debian's openssh-server (apt-get install -y openssh-server).`,
    );
  }
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const workDir = await mkdtemp(join(tmpdir(), 'ncr-sshd-'));
  const root = options.root ? resolve(options.root) : join(workDir, 'root');
  await mkdir(root, { recursive: true });
  const hostKey = join(workDir, 'host_ed25519');
  const userKey = join(workDir, 'user_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ncr-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ncr-test-user', '-f', userKey]);
  const authorizedKeys = join(workDir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(`${userKey}.pub`), { mode: 0o600 });
  const { stdout: fingerprintLine } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`]);
  const hostFingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(fingerprintLine)?.[0];
  if (!hostFingerprint) throw new Error(`Unexpected ssh-keygen output: ${fingerprintLine}`);

  const port = await freePort();
  const pidFile = join(workDir, 'sshd.pid');
  const logFile = join(workDir, 'sshd.log');
  const config = join(workDir, 'sshd_config');
  await writeFile(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${pidFile}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UseDNS no',
      'LogLevel VERBOSE',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'Subsystem sftp internal-sftp',
      `ForceCommand internal-sftp -d ${root}`,
      '',
    ].join('\n'),
  );

  let listenerPid: number | undefined;

  async function start(): Promise<void> {
    await rm(pidFile, { force: true });
    await new Promise<void>((resolveStart, reject) => {
      // sshd forks into the background; the parent exits once it listens.
      const child = spawn(SSHD, ['-f', config, '-E', logFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.once('error', reject);
      child.once('exit', (code) => {
        if (code === 0) resolveStart();
        else reject(new Error(`sshd exited with ${code}: ${stderr.trim()} (log: ${logFile})`));
      });
    });
    for (let waited = 0; ; waited += 25) {
      if (existsSync(pidFile) && (await canConnect(port))) break;
      if (waited > 10_000) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        throw new Error(`sshd did not accept connections on port ${port}: ${log.slice(-2000)}`);
      }
      await sleep(25);
    }
    listenerPid = Number((await readFile(pidFile, 'utf8')).trim());
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    const pid = listenerPid;
    if (pid === undefined) return;
    listenerPid = undefined;
    const children = descendants(pid);
    if (signal === 'SIGKILL') {
      // All at once, synchronously: a fault test wants the sessions gone now.
      send([pid, ...children], signal);
    }
    // The listener first, so it accepts nothing new, then its sessions.
    await signalAll([pid], signal);
    await signalAll(children, signal);
  }

  await start();
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    username: userInfo().username,
    privateKey: await readFile(userKey, 'utf8'),
    hostFingerprint,
    root,
    logFile,
    get pid() {
      return listenerPid;
    },
    async acceptedConnections() {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      return log.split('\n').filter((line) => line.includes('Accepted publickey for')).length;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt('SIGTERM');
      await rm(workDir, { recursive: true, force: true });
    },
    async kill() {
      await halt('SIGKILL');
    },
    async restart() {
      if (stopped) throw new Error('sshd was stopped; start a new one');
      await halt('SIGTERM');
      await start();
    },
  };
}
