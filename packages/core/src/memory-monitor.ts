import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { UploadError } from './errors.js';
import type { MemoryMonitor, MemorySnapshot, SystemMemoryReading } from './memory-types.js';

export interface MemoryMonitorOptions {
  /** Above this share of system memory (percent) no new jobs are accepted. Default 80. */
  maxMemoryPercent?: number;
  /** The concurrency recommended while memory use is low. Default 4. */
  maxConcurrency?: number;
  /** Reads system memory; inject one in tests. Default: `readSystemMemory({ cgroupRoot })`. */
  probe?: () => SystemMemoryReading;
  /** Where the cgroup v2 files are mounted. Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /**
   * How long a reading of the system files (cgroup, `/proc/meminfo`) is reused,
   * in ms: admission asks on every submission, and at 1,000 submissions/s
   * reading them each time costs a fifth of a core. An injected `probe` is
   * called every time. Default 250.
   */
  readingCacheMs?: number;
}

export interface ReadSystemMemoryOptions {
  /** Where the cgroup v2 files are mounted. Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /** The meminfo file for the OS fallback. Default `/proc/meminfo`. */
  meminfoPath?: string;
}

const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readNumber(path: string): number | null {
  const text = readText(path)?.trim();
  if (!text || !/^\d+$/.test(text)) return null;
  return Number(text);
}

/** `inactive_file` from a cgroup v2 `memory.stat`, in bytes; 0 when absent. */
export function parseInactiveFile(stat: string): number {
  const match = /^inactive_file\s+(\d+)\s*$/m.exec(stat);
  return match ? Number(match[1]) : 0;
}

/** The process's own cgroup v2 folder below the mount, from `/proc/self/cgroup` (`0::/path`). */
function ownCgroupFolder(cgroupRoot: string): string | null {
  const line = readText('/proc/self/cgroup')
    ?.split('\n')
    .find((entry) => entry.startsWith('0::'));
  const relative = line?.slice(3).trim();
  if (!relative || relative === '/') return null;
  return join(cgroupRoot, relative);
}

/**
 * System memory as a container sees it. With a cgroup v2 limit (`memory.max`
 * other than `max`): total = the limit (capped at the machine's memory), used =
 * `memory.current` minus `inactive_file` from `memory.stat` (reclaimable page
 * cache, as docker stats and the kubelet count it). Otherwise the OS figures:
 * total = `os.totalmem()`, used = total − `MemAvailable` from `/proc/meminfo`
 * (or `os.freemem()` when that is unreadable).
 */
export function readSystemMemory(options: ReadSystemMemoryOptions = {}): SystemMemoryReading {
  const cgroupRoot = options.cgroupRoot ?? DEFAULT_CGROUP_ROOT;
  const folders = [cgroupRoot];
  const own = ownCgroupFolder(cgroupRoot);
  if (own && own !== cgroupRoot) folders.push(own);
  const machineTotal = os.totalmem();
  for (const folder of folders) {
    const limit = readNumber(join(folder, 'memory.max'));
    const current = readNumber(join(folder, 'memory.current'));
    if (limit === null || current === null || limit <= 0) continue;
    const inactiveFile = parseInactiveFile(readText(join(folder, 'memory.stat')) ?? '');
    const total = Math.min(limit, machineTotal);
    return { total, used: Math.min(total, Math.max(0, current - inactiveFile)), source: 'cgroup' };
  }
  const meminfo = readText(options.meminfoPath ?? '/proc/meminfo');
  const available = meminfo ? /^MemAvailable:\s+(\d+)\s*kB/m.exec(meminfo) : null;
  const free = available ? Number(available[1]) * 1024 : os.freemem();
  return { total: machineTotal, used: Math.max(0, machineTotal - free), source: 'os' };
}

/**
 * The concurrency to run at for a memory use of `percent`:
 *
 * - at or below half the threshold (`percent <= maxPercent / 2`): `maxConcurrency`;
 * - at or above the threshold: 1;
 * - in between, linear:
 *   `floor(maxConcurrency − (maxConcurrency − 1) × (percent − maxPercent/2) / (maxPercent/2))`,
 *   never below 1.
 *
 * With the defaults (80 %, 4): 40 % → 4, 50 % → 3, 60 % → 2, 70 % → 1, 80 % → 1.
 */
export function recommendedConcurrency(percent: number, maxPercent: number, maxConcurrency: number): number {
  const low = maxPercent / 2;
  if (percent <= low) return maxConcurrency;
  if (percent >= maxPercent) return 1;
  const scaled = maxConcurrency - ((maxConcurrency - 1) * (percent - low)) / (maxPercent - low);
  return Math.max(1, Math.min(maxConcurrency, Math.floor(scaled)));
}

/**
 * Watches process and system memory (cgroup-aware) for admission, the
 * runner's dynamic concurrency and `/memory-stats`. Readings are taken on
 * demand (system files reused for `readingCacheMs`); nothing runs in the background.
 */
export function createMemoryMonitor(options: MemoryMonitorOptions = {}): MemoryMonitor {
  const maxMemoryPercent = options.maxMemoryPercent ?? 80;
  const maxConcurrency = options.maxConcurrency ?? 4;
  if (!Number.isFinite(maxMemoryPercent) || maxMemoryPercent <= 0 || maxMemoryPercent > 100) {
    throw new UploadError(
      'CONFIG_INVALID',
      `maxMemoryPercent must be above 0 and at most 100, got ${maxMemoryPercent}.`,
    );
  }
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new UploadError(
      'CONFIG_INVALID',
      `maxConcurrency must be an integer of at least 1, got ${maxConcurrency}.`,
    );
  }
  const cgroupRoot = options.cgroupRoot ?? DEFAULT_CGROUP_ROOT;
  const readingCacheMs = options.readingCacheMs ?? 250;
  let cached: { reading: SystemMemoryReading; at: number } | null = null;
  const probe =
    options.probe ??
    (() => {
      const at = Date.now();
      if (!cached || at - cached.at >= readingCacheMs || at < cached.at) {
        cached = { reading: readSystemMemory({ cgroupRoot }), at };
      }
      return cached.reading;
    });

  const measure = () => {
    const reading = probe();
    const total = Math.max(0, reading.total);
    const used = Math.min(total, Math.max(0, reading.used));
    const percent = total === 0 ? 0 : Math.round((used / total) * 10_000) / 100;
    return { reading, total, used, percent };
  };

  function snapshot(): MemorySnapshot {
    const usage = process.memoryUsage();
    const { reading, total, used, percent } = measure();
    return {
      process: {
        rss: usage.rss,
        heap_used: usage.heapUsed,
        heap_total: usage.heapTotal,
        external: usage.external,
        array_buffers: usage.arrayBuffers,
      },
      system: { total, available: total - used, used, percent, source: reading.source },
      max_memory_percent: maxMemoryPercent,
      accepting_jobs: percent <= maxMemoryPercent,
      recommended_concurrency: recommendedConcurrency(percent, maxMemoryPercent, maxConcurrency),
      timestamp: new Date().toISOString(),
    };
  }

  return {
    snapshot,
    // Admission needs only the system share: no process figures (process.memoryUsage() is costly).
    acceptingJobs: () => measure().percent <= maxMemoryPercent,
  };
}
