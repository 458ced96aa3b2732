/** Memory figures for admission, `/memory-stats` and the runner. Bytes unless named otherwise. */
export interface MemorySnapshot {
  process: { rss: number; heap_used: number; heap_total: number; external: number; array_buffers: number };
  system: {
    total: number;
    available: number;
    used: number;
    /** used / total × 100, two decimals. */
    percent: number;
    /** `cgroup` when a cgroup v2 limit applies, else `os`. */
    source: 'cgroup' | 'os';
  };
  max_memory_percent: number;
  /** False while `system.percent` is above `max_memory_percent`. */
  accepting_jobs: boolean;
  /** Between 1 and the configured maximum, lower as memory fills up. */
  recommended_concurrency: number;
  timestamp: string;
}

export interface MemoryMonitor {
  snapshot(): MemorySnapshot;
  acceptingJobs(): boolean;
}

/** What a memory probe reports; inject one in tests. */
export interface SystemMemoryReading {
  total: number;
  used: number;
  source: 'cgroup' | 'os';
}
