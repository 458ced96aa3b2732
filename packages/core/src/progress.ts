import type { Stage } from './errors.js';
import type { Progress } from './job.js';
import type { ProgressSink } from './steps/context.js';

/** Share of the overall percent each stage covers: [start, end]. Fetch and delivery move the bytes. */
const STAGE_SPAN: Partial<Record<Stage, [number, number]>> = {
  resolve: [0, 2],
  layout: [2, 3],
  fetch: [3, 55],
  archive: [55, 75],
  validate: [75, 82],
  deliver: [82, 98],
  report: [98, 99],
  cleanup: [99, 100],
};

/** Stages that work on the job's own files: their totals are the job's. */
const JOB_STAGES: ReadonlySet<Stage> = new Set(['fetch', 'archive']);

/**
 * Tracks one attempt's progress and reports it at job level: `files_total`
 * and `bytes_total` are the job's files and bytes (known once fetching
 * starts), and `files_done`/`bytes_done` how much of them the current stage
 * has passed, so a finished 3-file job reads 3/3 files whatever the last stage
 * counted (one zip, its bytes). The overall percent only moves forward.
 */
export class ProgressTracker implements ProgressSink {
  current: Stage = 'resolve';
  /** When each stage of this attempt began, in order (the attempt starts in `resolve`). */
  readonly marks: { stage: Stage; at: string }[] = [{ stage: 'resolve', at: new Date().toISOString() }];
  private filesDone = 0;
  private filesTotal = 0;
  private bytesDone = 0;
  private bytesTotal = 0;
  private percentFloor = 0;
  private jobFiles: number | null = null;
  private jobBytes = 0;

  constructor(private readonly onChange: (stageChanged: boolean) => void) {}

  stage(stage: Stage): void {
    if (stage !== this.current) this.marks.push({ stage, at: new Date().toISOString() });
    this.current = stage;
    this.filesDone = 0;
    this.bytesDone = 0;
    this.percentFloor = Math.max(this.percentFloor, STAGE_SPAN[stage]?.[0] ?? this.percentFloor);
    this.onChange(true);
  }

  totals(filesTotal: number, bytesTotal: number): void {
    this.filesTotal = filesTotal;
    this.bytesTotal = bytesTotal;
    this.trackJob();
    this.onChange(false);
  }

  advance(filesDone: number, bytesDone: number): void {
    this.filesDone += filesDone;
    this.bytesDone += bytesDone;
    // Sizes the catalog did not know grow the total as bytes arrive.
    if (this.bytesDone > this.bytesTotal) this.bytesTotal = this.bytesDone;
    this.trackJob();
    this.onChange(false);
  }

  private trackJob(): void {
    if (!JOB_STAGES.has(this.current)) return;
    this.jobFiles = this.filesTotal;
    this.jobBytes = this.bytesTotal;
  }

  snapshot(): Progress {
    const [start, end] = STAGE_SPAN[this.current] ?? [this.percentFloor, this.percentFloor];
    const fraction = Math.min(
      1,
      this.bytesTotal > 0
        ? this.bytesDone / this.bytesTotal
        : this.filesTotal > 0
          ? this.filesDone / this.filesTotal
          : 0,
    );
    const percent = Math.min(100, Math.max(this.percentFloor, start + (end - start) * fraction));
    this.percentFloor = percent;
    const ownCounts = this.jobFiles === null || JOB_STAGES.has(this.current);
    const filesDone = ownCounts
      ? this.filesDone
      : this.filesTotal > 0 && this.filesDone >= this.filesTotal
        ? (this.jobFiles ?? 0)
        : Math.floor(fraction * (this.jobFiles ?? 0));
    return {
      files_done: filesDone,
      files_total: ownCounts ? this.filesTotal : (this.jobFiles ?? 0),
      bytes_done: ownCounts ? this.bytesDone : Math.round(fraction * this.jobBytes),
      bytes_total: ownCounts ? this.bytesTotal : this.jobBytes,
      percent: Math.round(percent * 100) / 100,
    };
  }
}
