import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMemoryMonitor,
  parseInactiveFile,
  readSystemMemory,
  recommendedConcurrency,
} from '../src/memory-monitor.js';

const MIB = 1024 * 1024;

describe('createMemoryMonitor with an injected probe', () => {
  const monitorAt = (
    used: number,
    total = 1000,
    extra: { maxMemoryPercent?: number; maxConcurrency?: number } = {},
  ) => createMemoryMonitor({ ...extra, probe: () => ({ total, used, source: 'os' }) });

  it('reports system figures, the threshold and the process memory', () => {
    const snapshot = monitorAt(500).snapshot();
    expect(snapshot.system).toEqual({ total: 1000, used: 500, available: 500, percent: 50, source: 'os' });
    expect(snapshot.max_memory_percent).toBe(80);
    expect(snapshot.accepting_jobs).toBe(true);
    expect(snapshot.recommended_concurrency).toBe(3);
    expect(snapshot.process.rss).toBeGreaterThan(0);
    expect(snapshot.process.heap_used).toBeGreaterThan(0);
    expect(snapshot.process.heap_total).toBeGreaterThanOrEqual(snapshot.process.heap_used);
    expect(Number.isNaN(Date.parse(snapshot.timestamp))).toBe(false);
  });

  it('accepts jobs up to and including the threshold, not above', () => {
    expect(monitorAt(800).acceptingJobs()).toBe(true);
    expect(monitorAt(8001, 10_000).acceptingJobs()).toBe(false);
    expect(monitorAt(8001, 10_000).snapshot().system.percent).toBe(80.01);
    expect(monitorAt(950, 1000, { maxMemoryPercent: 95 }).acceptingJobs()).toBe(true);
    expect(monitorAt(951, 1000, { maxMemoryPercent: 95 }).acceptingJobs()).toBe(false);
  });

  it('rounds percent to two decimals and clamps odd readings', () => {
    expect(monitorAt(1, 3).snapshot().system.percent).toBe(33.33);
    expect(monitorAt(2000, 1000).snapshot().system).toMatchObject({ used: 1000, available: 0, percent: 100 });
    expect(monitorAt(5, 0).snapshot().system).toMatchObject({ total: 0, used: 0, percent: 0 });
  });

  it('rejects bad options', () => {
    expect(() => createMemoryMonitor({ maxMemoryPercent: 0 })).toThrow(/maxMemoryPercent/);
    expect(() => createMemoryMonitor({ maxMemoryPercent: 101 })).toThrow(/maxMemoryPercent/);
    expect(() => createMemoryMonitor({ maxConcurrency: 0 })).toThrow(/maxConcurrency/);
  });
});

describe('recommendedConcurrency', () => {
  it('follows the documented table for the defaults', () => {
    const table = [0, 20, 40, 45, 50, 55, 60, 65, 70, 79.9, 80, 95].map((percent) => [
      percent,
      recommendedConcurrency(percent, 80, 4),
    ]);
    expect(table).toEqual([
      [0, 4],
      [20, 4],
      [40, 4],
      [45, 3],
      [50, 3],
      [55, 2],
      [60, 2],
      [65, 2],
      [70, 1],
      [79.9, 1],
      [80, 1],
      [95, 1],
    ]);
  });

  it('stays within 1 and the maximum and never rises as memory fills', () => {
    let previous = Number.POSITIVE_INFINITY;
    for (let percent = 0; percent <= 100; percent += 0.5) {
      const value = recommendedConcurrency(percent, 80, 16);
      expect(value).toBeGreaterThanOrEqual(1);
      expect(value).toBeLessThanOrEqual(16);
      expect(value).toBeLessThanOrEqual(previous);
      previous = value;
    }
    expect(recommendedConcurrency(10, 80, 1)).toBe(1);
  });
});

describe('readSystemMemory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(os.tmpdir(), 'memory-monitor-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cgroup = async (name: string, files: Record<string, string>) => {
    const root = join(dir, name);
    await rm(root, { recursive: true, force: true });
    await import('node:fs/promises').then(({ mkdir }) => mkdir(root, { recursive: true }));
    for (const [file, content] of Object.entries(files)) await writeFile(join(root, file), content);
    return root;
  };
  const stat = (inactiveFile: number) =>
    `anon 1000\nfile 90000000\nactive_file 1000\ninactive_file ${inactiveFile}\nslab 10\n`;

  it('uses the cgroup v2 limit and subtracts inactive_file from memory.current', async () => {
    const root = await cgroup('limited', {
      'memory.max': `${256 * MIB}\n`,
      'memory.current': `${200 * MIB}\n`,
      'memory.stat': stat(50 * MIB),
    });
    expect(readSystemMemory({ cgroupRoot: root })).toEqual({
      total: 256 * MIB,
      used: 150 * MIB,
      source: 'cgroup',
    });
    const snapshot = createMemoryMonitor({ cgroupRoot: root }).snapshot();
    expect(snapshot.system).toMatchObject({
      total: 256 * MIB,
      used: 150 * MIB,
      source: 'cgroup',
      percent: 58.59,
    });
    expect(snapshot.recommended_concurrency).toBe(2);
  });

  it('counts memory.current whole when memory.stat is missing, and never goes below zero', async () => {
    const whole = await cgroup('no-stat', { 'memory.max': `${100 * MIB}`, 'memory.current': `${30 * MIB}` });
    expect(readSystemMemory({ cgroupRoot: whole }).used).toBe(30 * MIB);
    const odd = await cgroup('odd', {
      'memory.max': `${100 * MIB}`,
      'memory.current': `${10 * MIB}`,
      'memory.stat': stat(20 * MIB),
    });
    expect(readSystemMemory({ cgroupRoot: odd }).used).toBe(0);
  });

  it('caps a cgroup limit above the machine memory at the machine memory', async () => {
    const root = await cgroup('huge', {
      'memory.max': `${os.totalmem() * 4}`,
      'memory.current': `${10 * MIB}`,
    });
    expect(readSystemMemory({ cgroupRoot: root })).toMatchObject({ total: os.totalmem(), source: 'cgroup' });
  });

  it('falls back to the OS when memory.max is "max" or the files are missing', async () => {
    const unlimited = await cgroup('unlimited', { 'memory.max': 'max\n', 'memory.current': `${10 * MIB}` });
    const meminfoPath = join(dir, 'meminfo');
    const available = Math.floor(os.totalmem() / 1024 / 4);
    await writeFile(
      meminfoPath,
      `MemTotal: ${Math.floor(os.totalmem() / 1024)} kB\nMemFree: 1 kB\nMemAvailable: ${available} kB\n`,
    );
    for (const root of [unlimited, join(dir, 'does-not-exist')]) {
      const reading = readSystemMemory({ cgroupRoot: root, meminfoPath });
      expect(reading).toEqual({ total: os.totalmem(), used: os.totalmem() - available * 1024, source: 'os' });
    }
  });

  it('uses os.freemem() when meminfo is unreadable', () => {
    const reading = readSystemMemory({ cgroupRoot: join(dir, 'none'), meminfoPath: join(dir, 'no-meminfo') });
    expect(reading.source).toBe('os');
    expect(reading.total).toBe(os.totalmem());
    expect(reading.used).toBeGreaterThan(0);
    expect(reading.used).toBeLessThan(reading.total);
  });

  it('parses inactive_file exactly, not a longer key', () => {
    expect(parseInactiveFile('inactive_file_extra 5\ninactive_file 42\n')).toBe(42);
    expect(parseInactiveFile('active_file 7\n')).toBe(0);
  });
});
