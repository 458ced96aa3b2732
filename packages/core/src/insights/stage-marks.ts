import type { StageMark } from '../job.js';
import type { StageSpan } from '../ports/task-insights.js';

/**
 * A timeline with every stage an attempt passed through, also those no write
 * recorded. Stage and progress writes are coalesced (at most one per
 * `progressIntervalMs`), so a short attempt is stored as one `running` span
 * from its first write to its end; the task's `stages` marks say when each
 * stage began. For each attempt with marks, its `running` spans are replaced
 * by one span per mark: from the mark to the next one (the last ends where the
 * attempt's last `running` span ended, or is open while it runs). Files and
 * bytes come from a stored span of the same stage when there is one. Other
 * spans (queued, retrying, the ending) stay as they are.
 */
export function expandStageSpans(
  spans: readonly StageSpan[],
  marks: readonly StageMark[] | undefined,
): StageSpan[] {
  if (!marks || marks.length === 0) return spans.map((span) => ({ ...span }));
  const byAttempt = new Map<number, StageMark[]>();
  for (const mark of marks) {
    const list = byAttempt.get(mark.attempt) ?? [];
    list.push(mark);
    byAttempt.set(mark.attempt, list);
  }
  const out: StageSpan[] = [];
  for (let index = 0; index < spans.length; index += 1) {
    const span = spans[index] as StageSpan;
    const attemptMarks = span.state === 'running' ? byAttempt.get(span.attempt) : undefined;
    if (!attemptMarks) {
      out.push({ ...span });
      continue;
    }
    // This attempt's consecutive running spans, replaced as a whole.
    const covered: StageSpan[] = [span];
    while (index + 1 < spans.length) {
      const next = spans[index + 1] as StageSpan;
      if (next.state !== 'running' || next.attempt !== span.attempt) break;
      covered.push(next);
      index += 1;
    }
    const last = covered[covered.length - 1] as StageSpan;
    attemptMarks.forEach((mark, position) => {
      const following = attemptMarks[position + 1];
      const stored = covered.filter((candidate) => candidate.stage === mark.stage).pop();
      const source = stored ?? (following ? null : last);
      out.push({
        attempt: span.attempt,
        state: 'running',
        stage: mark.stage,
        started_at: mark.at,
        ended_at: following ? following.at : last.ended_at,
        worker: span.worker,
        files_done: source?.files_done ?? 0,
        files_total: source?.files_total ?? 0,
        bytes_done: source?.bytes_done ?? 0,
        bytes_total: source?.bytes_total ?? 0,
        error: span.error,
      });
    });
  }
  return out;
}
