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

/**
 * Tracks one attempt's progress: the current stage's files and bytes done and
 * total, and an overall percent that only moves forward.
 */
export class ProgressTracker implements ProgressSink {
  current: Stage = 'resolve';
  private filesDone = 0;
  private filesTotal = 0;
  private bytesDone = 0;
  private bytesTotal = 0;
  private percentFloor = 0;

  constructor(private readonly onChange: (stageChanged: boolean) => void) {}

  stage(stage: Stage): void {
    this.current = stage;
    this.filesDone = 0;
    this.bytesDone = 0;
    this.percentFloor = Math.max(this.percentFloor, STAGE_SPAN[stage]?.[0] ?? this.percentFloor);
    this.onChange(true);
  }

  totals(filesTotal: number, bytesTotal: number): void {
    this.filesTotal = filesTotal;
    this.bytesTotal = bytesTotal;
    this.onChange(false);
  }

  advance(filesDone: number, bytesDone: number): void {
    this.filesDone += filesDone;
    this.bytesDone += bytesDone;
    // Sizes the catalog did not know grow the total as bytes arrive.
    if (this.bytesDone > this.bytesTotal) this.bytesTotal = this.bytesDone;
    this.onChange(false);
  }

  snapshot(): Progress {
    const [start, end] = STAGE_SPAN[this.current] ?? [this.percentFloor, this.percentFloor];
    const fraction =
      this.bytesTotal > 0
        ? this.bytesDone / this.bytesTotal
        : this.filesTotal > 0
          ? this.filesDone / this.filesTotal
          : 0;
    const percent = Math.min(100, Math.max(this.percentFloor, start + (end - start) * Math.min(1, fraction)));
    this.percentFloor = percent;
    return {
      files_done: this.filesDone,
      files_total: this.filesTotal,
      bytes_done: this.bytesDone,
      bytes_total: this.bytesTotal,
      percent: Math.round(percent * 100) / 100,
    };
  }
}
