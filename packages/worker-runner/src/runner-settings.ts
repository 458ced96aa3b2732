import { UploadError } from '@ncr-upload/core';
import type { RunnerOptions } from './runner-types.js';

/** Timers hold at most 2^31-1 ms; Node fires a longer one after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new UploadError(
      'CONFIG_INVALID',
      `${name} must be an integer of at least 1, got ${String(value)}.`,
    );
  }
  return value;
}

function timerMs(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new UploadError(
      'CONFIG_INVALID',
      `${name} must be a number of milliseconds between 0 and ${MAX_TIMER_MS}, got ${String(value)}.`,
    );
  }
  return value;
}

/** The runner's options checked, with their defaults applied. */
export interface RunnerSettings {
  isolation: 'inline' | 'process';
  maxConcurrency: number;
  maxTasksPerChild: number;
  maxMemoryPerChildKb: number;
  shutdownTimeoutMs: number;
  resumeMarginPercent: number;
}

/** Check the runner's options (a `CONFIG_INVALID` error for the first wrong one) and apply the defaults. */
export function resolveRunnerSettings(options: RunnerOptions): RunnerSettings {
  if (!options.pipeline && !options.pipelineModule) {
    throw new UploadError('CONFIG_INVALID', 'createRunner needs a pipeline or a pipelineModule.');
  }
  const isolation = options.isolation ?? 'inline';
  if (isolation !== 'inline' && isolation !== 'process') {
    throw new UploadError('CONFIG_INVALID', `isolation must be inline or process, got ${String(isolation)}.`);
  }
  const maxConcurrency = positiveInteger('concurrency', options.concurrency ?? 4);
  const maxTasksPerChild = positiveInteger('maxTasksPerChild', options.maxTasksPerChild ?? 1000);
  const maxMemoryPerChildKb = positiveInteger('maxMemoryPerChildKb', options.maxMemoryPerChildKb ?? 200_000);
  const shutdownTimeoutMs = timerMs('shutdownTimeoutMs', options.shutdownTimeoutMs) ?? 30_000;
  const resumeMarginPercent = options.memoryResumeMarginPercent ?? 2;
  if (!Number.isFinite(resumeMarginPercent) || resumeMarginPercent < 0) {
    throw new UploadError('CONFIG_INVALID', 'memoryResumeMarginPercent must be a number of at least 0.');
  }
  timerMs('jobTimeoutMs', options.jobTimeoutMs);
  timerMs('memoryCheckIntervalMs', options.memoryCheckIntervalMs);
  if (
    options.maxLoopDelayMs !== undefined &&
    (!Number.isFinite(options.maxLoopDelayMs) || options.maxLoopDelayMs < 0)
  ) {
    throw new UploadError('CONFIG_INVALID', 'maxLoopDelayMs must be a number of at least 0.');
  }
  return {
    isolation,
    maxConcurrency,
    maxTasksPerChild,
    maxMemoryPerChildKb,
    shutdownTimeoutMs,
    resumeMarginPercent,
  };
}
