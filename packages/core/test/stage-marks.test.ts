import { describe, expect, it } from 'vitest';
import { expandStageSpans } from '../src/insights/stage-marks.js';
import type { StageSpan } from '../src/ports/task-insights.js';

const span = (overrides: Partial<StageSpan>): StageSpan => ({
  attempt: 1,
  state: 'running',
  stage: 'resolve',
  started_at: 't0',
  ended_at: null,
  worker: 'w1',
  files_done: 0,
  files_total: 0,
  bytes_done: 0,
  bytes_total: 0,
  error: null,
  ...overrides,
});

describe('expandStageSpans', () => {
  it('returns copies of the spans when there are no marks', () => {
    const spans = [span({ ended_at: 't1' })];
    const expanded = expandStageSpans(spans, undefined);
    expect(expanded).toEqual(spans);
    expect(expanded[0]).not.toBe(spans[0]);
  });

  it('splits each attempt by its marks, keeps the other spans, and takes bytes from a stored span of the stage', () => {
    const error = { code: 'CONNECTION_ERROR', message: 'refused' };
    const spans = [
      span({ attempt: 0, state: 'queued', stage: 'queue', started_at: 'q', ended_at: 'a' }),
      span({ started_at: 'a', ended_at: 'b' }),
      span({ stage: 'fetch', started_at: 'b', ended_at: 'c', bytes_done: 7, bytes_total: 9 }),
      span({ state: 'retrying', stage: 'queue', started_at: 'c', ended_at: 'd', worker: null, error }),
      span({ attempt: 2, started_at: 'd', ended_at: null, files_done: 1, files_total: 2 }),
    ];
    const marks = [
      { attempt: 1, stage: 'resolve' as const, at: 'a' },
      { attempt: 1, stage: 'layout' as const, at: 'a2' },
      { attempt: 1, stage: 'fetch' as const, at: 'b' },
      { attempt: 2, stage: 'resolve' as const, at: 'd' },
      { attempt: 2, stage: 'fetch' as const, at: 'e' },
    ];
    const expanded = expandStageSpans(spans, marks);
    expect(
      expanded.map((item) => [item.attempt, item.state, item.stage, item.started_at, item.ended_at]),
    ).toEqual([
      [0, 'queued', 'queue', 'q', 'a'],
      [1, 'running', 'resolve', 'a', 'a2'],
      [1, 'running', 'layout', 'a2', 'b'],
      [1, 'running', 'fetch', 'b', 'c'],
      [1, 'retrying', 'queue', 'c', 'd'],
      [2, 'running', 'resolve', 'd', 'e'],
      [2, 'running', 'fetch', 'e', null],
    ]);
    expect(expanded[3]).toMatchObject({ bytes_done: 7, bytes_total: 9 });
    // The open span's live progress stays on the attempt's last stage.
    expect(expanded.at(-1)).toMatchObject({ files_done: 1, files_total: 2 });
    expect(expanded[4]?.error).toEqual(error);
  });
});
