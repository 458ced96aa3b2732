import { join } from 'node:path';
import { isTerminal, type TaskRecord, type UploadPipeline } from '@ncr-upload/core';
import { SAMPLE_JOB } from './sample-data.js';

const describe = (record: Pick<TaskRecord, 'state' | 'stage' | 'progress'>) =>
  `${record.state}${record.stage && record.state !== 'succeeded' ? ` (${record.stage})` : ''} ${record.progress.percent.toFixed(0)}%`;

/**
 * On embedded defaults, `serve` submits the sample job once at start and
 * prints its progress and where the zip was delivered, so a first run shows
 * the whole pipeline working.
 */
export async function runSampleJob(
  pipeline: UploadPipeline,
  outbox: string,
  write: (line: string) => void,
  timeoutMs = 60_000,
): Promise<TaskRecord> {
  const { task_id } = await pipeline.submit(SAMPLE_JOB);
  write(`Sample job submitted: task ${task_id}`);
  let last = '';
  const unsubscribe = pipeline.subscribe((event) => {
    if (event.task_id !== task_id) return;
    const line = describe(event);
    if (line !== last) write(`  ${line}`);
    last = line;
  });
  try {
    const record = await pipeline.waitFor(task_id, { timeoutMs });
    if (record.state === 'succeeded' && record.result) {
      write(
        `Sample job succeeded: ${join(outbox, record.result.remote_path)} (${record.result.size} bytes, sha256 ${record.result.sha256})`,
      );
    } else if (isTerminal(record.state)) {
      write(`Sample job ${record.state}: ${record.error?.message ?? 'no reason recorded'}`);
    }
    return record;
  } finally {
    unsubscribe();
  }
}
