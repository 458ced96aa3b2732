import type { Stage } from '../errors.js';
import type { JobRequest } from '../job.js';

/** Progress sink a step reports to; the pipeline turns it into throttled status writes. */
export interface ProgressSink {
  stage(stage: Stage): void;
  /** Set totals for the current stage (files and bytes). */
  totals(filesTotal: number, bytesTotal: number): void;
  /** Add to what is done in the current stage. */
  advance(filesDone: number, bytesDone: number): void;
}

export interface StepContext {
  job: JobRequest;
  taskId: string;
  /** The task's private temp folder; removed by the pipeline on every outcome. */
  dir: string;
  signal: AbortSignal;
  progress: ProgressSink;
}
