// The submitting side of the tiny-jobs benchmark (bench/tiny.ts), plain
// JavaScript so the in-process case runs the built packages through node
// without a TypeScript loader: submit every job, then wait until each task ended.
import { isTerminal } from '@ncr-upload/core';

/** The tiny job number `index` (its files are seeded by bench/support.ts). */
export const tinyJob = (index) => ({
  job_id: `tiny-${String(index).padStart(5, '0')}`,
  username: 'bench',
  campaign: 'tiny',
  row_id: index,
});

/**
 * Submit `jobCount` jobs (at most `inFlight` submissions at once), then wait
 * until each task ended. The CPU window runs from the first submission to the
 * last terminal state.
 */
export async function submitAndWait(pipeline, jobCount, inFlight) {
  const ended = new Map();
  const ids = new Set();
  const unsubscribe = pipeline.subscribe((event) => {
    if (isTerminal(event.state)) ended.set(event.task_id, event.state);
  });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < jobCount) {
        const index = next;
        next += 1;
        const result = await pipeline.submit(tinyJob(index));
        ids.add(result.task_id);
      }
    }),
  );
  const submitted = performance.now();
  const submitCpu = process.cpuUsage(cpuStart);
  let lastEnd = performance.now();
  let lastEndCpu = process.cpuUsage(cpuStart);
  // The window closes at the last terminal event, not at the poll that notices it. The CPU is read
  // only at the last one: process.cpuUsage is a system call that was 5 % of a profile when read per event.
  const watch = pipeline.subscribe((event) => {
    if (!isTerminal(event.state)) return;
    lastEnd = performance.now();
    const count = ended.has(event.task_id) ? ended.size : ended.size + 1;
    if (count >= ids.size) lastEndCpu = process.cpuUsage(cpuStart);
  });
  for (;;) {
    const missing = [...ids].filter((id) => !ended.has(id));
    if (missing.length === 0) break;
    const before = ended.size;
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Events are the fast path; a quiet moment reads the rest directly (an event may have been missed).
    if (ended.size === before) {
      for (const id of missing.slice(0, 50)) {
        const record = await pipeline.getTask(id);
        if (record && isTerminal(record.state)) {
          ended.set(id, record.state);
          lastEnd = performance.now();
          lastEndCpu = process.cpuUsage(cpuStart);
        }
      }
    }
  }
  watch();
  unsubscribe();
  const states = {};
  for (const id of ids) {
    const state = ended.get(id);
    states[state] = (states[state] ?? 0) + 1;
  }
  return {
    jobs: ids.size,
    seconds: (lastEnd - started) / 1000,
    submit_seconds: (submitted - started) / 1000,
    cpu_ms: (lastEndCpu.user + lastEndCpu.system) / 1000,
    submit_cpu_ms: (submitCpu.user + submitCpu.system) / 1000,
    states,
  };
}
